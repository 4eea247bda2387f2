export { createSafelistPlugin } from './plugin.js';
export { createSafelistRoutes } from './routes.js';
export { operationHash, SafelistStore } from './store.js';
