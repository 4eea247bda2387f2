import type { Config } from '../../platform/config.js';

/** Maximums an operation must stay within, and how its cost is reported. */
export interface OperationLimits {
  /** Fields on the longest path through the selection, root field included. */
  maxDepth: number;
  /** Aliased fields, counted once per place a fragment is spread. */
  maxAliases: number;
  /** Fields selected on the root type. */
  maxRootFields: number;
  /** Directive uses, counted once per place a fragment is spread. */
  maxDirectives: number;
  /** Lexer tokens of the whole document, comments excluded. */
  maxTokens: number;
  /** Static cost computed by `computeQueryCost`. */
  maxCost: number;
  /** Size assumed for a list field whose size no argument or directive gives. */
  defaultListSize: number;
  /** Whether responses carry `extensions.cost`. */
  reportCost: boolean;
}

export function readOperationLimits(config: Config): OperationLimits {
  return {
    maxDepth: config.OPERATION_MAX_DEPTH,
    maxAliases: config.OPERATION_MAX_ALIASES,
    maxRootFields: config.OPERATION_MAX_ROOT_FIELDS,
    maxDirectives: config.OPERATION_MAX_DIRECTIVES,
    maxTokens: config.OPERATION_MAX_TOKENS,
    maxCost: config.OPERATION_MAX_COST,
    defaultListSize: config.OPERATION_DEFAULT_LIST_SIZE,
    reportCost: config.OPERATION_REPORT_COST,
  };
}
