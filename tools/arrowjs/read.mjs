// read.mjs URL [COLUMN]: reads an Arrow IPC stream over HTTP with the npm
// apache-arrow package and prints one JSON line: the content type, the
// schema's fields, the batch and row counts, and the values of COLUMN (as
// strings) in stream order. Exits 2 on an HTTP error, 1 on a bad stream.
import { RecordBatchReader } from 'apache-arrow';

const [url, column] = process.argv.slice(2);
if (!url) {
  console.error('usage: node read.mjs URL [COLUMN]');
  process.exit(64);
}
const res = await fetch(url);
if (!res.ok) {
  console.error(`HTTP ${res.status}: ${await res.text()}`);
  process.exit(2);
}
const reader = await RecordBatchReader.from(res.body);
await reader.open();
const out = {
  contentType: res.headers.get('content-type'),
  fields: reader.schema.fields.map((f) => `${f.name}: ${f.type}`),
  batches: 0,
  rows: 0,
  values: [],
};
for await (const batch of reader) {
  out.batches++;
  out.rows += batch.numRows;
  if (column) {
    const vec = batch.getChild(column);
    if (!vec) {
      console.error(`no column ${column}`);
      process.exit(1);
    }
    for (const v of vec) out.values.push(String(v));
  }
}
console.log(JSON.stringify(out));
