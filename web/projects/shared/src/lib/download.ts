// Hands bytes an RPC returned (a CSV report, an invoice PDF, a log export) to the browser as a
// file download.
export function downloadBytes(bytes: Uint8Array, contentType: string, filename: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: contentType }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its copy once the click is handled.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
