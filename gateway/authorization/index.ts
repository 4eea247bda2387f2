export { authorizeGateway, type AuthorizingGateway } from './gateway.js';
export { POLICIES, type Policy } from './policies.js';
export { prepareSupergraph, readRequirements } from './supergraph.js';
export { acceptTestCallerHeader, TEST_CALLER_HEADER } from './test-caller.js';
