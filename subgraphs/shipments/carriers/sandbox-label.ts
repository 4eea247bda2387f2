/**
 * Renders the sandbox carrier's labels: a one-page 4×6 inch PDF 1.4 of
 * plain text in Helvetica. The shipments service serves it at
 * `GET /labels/<carrierShipmentId>.pdf` with `content-type: application/pdf`
 * (docs/shipping.md describes the route).
 */

import type { Address } from './carrier.js';

export interface SandboxLabelContent {
  trackingNumber: string;
  carrier: string;
  service: string;
  /** The shop's reference, such as the shipment id. */
  reference?: string | null;
  from?: Address | null;
  to?: Address | null;
}

/** 4×6 inches in PDF points (1/72 in). */
const PAGE_WIDTH = 288;
const PAGE_HEIGHT = 432;

/**
 * Escapes text for a PDF string literal. The standard Helvetica font covers
 * ASCII only here, so accents are dropped (NFKD) and other characters
 * become `?`.
 */
function pdfText(value: string): string {
  const ascii = value
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]/g, '?');
  return ascii.replace(/[\\()]/g, (character) => `\\${character}`);
}

function addressLines(address: Address): string[] {
  const cityLine = [address.city, address.region, address.postalCode]
    .filter((part): part is string => part !== null && part !== '')
    .join(' ');
  return [
    address.name,
    address.line1,
    ...(address.line2 ? [address.line2] : []),
    cityLine,
    address.countryCode,
  ];
}

/** Renders a sandbox label as the bytes of a PDF file. */
export function renderSandboxLabelPdf(content: SandboxLabelContent): Buffer {
  const lines: { size: number; text: string }[] = [
    { size: 16, text: `${content.carrier} - ${content.service}` },
    { size: 10, text: 'SANDBOX LABEL - NOT VALID FOR POSTAGE' },
  ];
  if (content.from) {
    lines.push({ size: 9, text: 'FROM' });
    for (const line of addressLines(content.from))
      lines.push({ size: 9, text: line });
  }
  if (content.to) {
    lines.push({ size: 11, text: 'TO' });
    for (const line of addressLines(content.to))
      lines.push({ size: 11, text: line });
  }
  lines.push({ size: 14, text: `Tracking ${content.trackingNumber}` });
  if (content.reference) {
    lines.push({ size: 9, text: `Reference ${content.reference}` });
  }

  const operations = ['BT', `18 ${PAGE_HEIGHT - 36} Td`];
  lines.forEach((line, index) => {
    if (index > 0) operations.push(`0 -${line.size + 6} Td`);
    operations.push(`/F1 ${line.size} Tf`, `(${pdfText(line.text)}) Tj`);
  });
  operations.push('ET');
  const stream = operations.join('\n');

  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${PAGE_WIDTH} ${PAGE_HEIGHT}] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>`,
    `<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];

  // The cross-reference table lists the byte offset of every object, each
  // entry exactly 20 bytes long, as PDF readers seek by it.
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xrefOffset = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) {
    body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  }
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xrefOffset}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}
