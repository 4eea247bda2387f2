import { runSubgraphProcess } from '../../platform/main.js';
import { ordersSubgraph } from './service.js';

await runSubgraphProcess(ordersSubgraph);
