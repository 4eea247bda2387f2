import { runSubgraphProcess } from '../../platform/main.js';
import { catalogSubgraph } from './service.js';

await runSubgraphProcess(catalogSubgraph);
