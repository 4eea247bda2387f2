import { runSubgraphProcess } from '../../platform/main.js';
import { marketplaceSubgraph } from './service.js';

await runSubgraphProcess(marketplaceSubgraph);
