import { runSubgraphProcess } from '../../platform/main.js';
import { shipmentsSubgraph } from './service.js';

await runSubgraphProcess(shipmentsSubgraph);
