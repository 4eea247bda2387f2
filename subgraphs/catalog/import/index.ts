export { importCatalogFile } from './import-catalog-file.js';
export { ImportFileError } from './csv-table.js';
export type {
  CatalogFormat,
  ChangeCounts,
  ImportOptions,
  ImportReport,
  RowIssue,
} from './types.js';
