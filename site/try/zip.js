// zip.js: pack files into one ZIP archive in the browser, so that the "Try the model" page can
// download the learner's labelled drawings in one go (PNG files named by label, as samples/ are).
// Files are "stored" (method 0, not compressed: PNGs are compressed already). Python's zipfile
// reads the result (tests/test_try_modules.py checks it with ZipFile.testzip()).

const UTF8_NAMES = 0x0800; // general-purpose flag bit 11: the file names are UTF-8
const VERSION = 20; // "version needed to extract": 2.0, as zipfile writes for stored files

/** The CRC-32 lookup table (polynomial 0xEDB88320, as zlib and zipfile use), built once. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** MS-DOS time and date, as ZIP stores them: local time, in two-second steps, 1980 or later. */
function dosDateTime(date) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new Error(`zipFiles: date must be a valid Date, got ${date}`);
  }
  const d = date.getFullYear() < 1980 ? new Date(1980, 0, 1) : date;
  const time = (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1);
  const day = ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  return [time, day];
}

function checkFiles(files) {
  if (!Array.isArray(files) || files.length === 0) {
    throw new Error("zipFiles: no files to put in the archive (give at least one)");
  }
  if (files.length > 0xffff) {
    throw new Error(`zipFiles: a ZIP archive holds at most 65,535 files, got ${files.length}`);
  }
  const seen = new Set();
  for (const { name, bytes } of files) {
    if (typeof name !== "string" || name === "" || name === ".") {
      throw new Error(`zipFiles: file name ${JSON.stringify(name)} is not a file name`);
    }
    if (name.includes("/") || name.includes("\\") || name.includes("..")) {
      throw new Error(`zipFiles: file name ${JSON.stringify(name)} holds "/", "\\" or ".."`);
    }
    if (seen.has(name)) {
      throw new Error(`zipFiles: file name ${JSON.stringify(name)} appears twice`);
    }
    seen.add(name);
    if (!(bytes instanceof Uint8Array)) {
      throw new Error(`zipFiles: the bytes of ${JSON.stringify(name)} must be a Uint8Array`);
    }
  }
}

/**
 * Pack files into a ZIP archive, stored without compression, names in UTF-8.
 * @param {{name: string, bytes: Uint8Array}[]} files plain names (no folders), each once
 * @param {Date} [date] the files' modification time (local time, as ZIP stores it)
 * @returns {Uint8Array} the archive's bytes
 * @throws {Error} on an empty list, more than 65,535 files, a repeated name, or a name with
 *   "/", "\\" or ".."
 */
export function zipFiles(files, date = new Date()) {
  checkFiles(files);
  const [time, day] = dosDateTime(date);
  const encoder = new TextEncoder();
  const entries = files.map(({ name, bytes }) => ({
    name: encoder.encode(name),
    bytes,
    crc: crc32(bytes),
  }));
  const localSize = entries.reduce((sum, e) => sum + 30 + e.name.length + e.bytes.length, 0);
  const centralSize = entries.reduce((sum, e) => sum + 46 + e.name.length, 0);
  if (localSize + centralSize + 22 > 0xffffffff) {
    throw new Error("zipFiles: the archive would pass 4 GiB, the most a plain ZIP holds");
  }
  const out = new Uint8Array(localSize + centralSize + 22);
  const view = new DataView(out.buffer);
  let pos = 0; // little-endian fields, written one after the other
  const u16 = (value) => { view.setUint16(pos, value, true); pos += 2; };
  const u32 = (value) => { view.setUint32(pos, value, true); pos += 4; };
  const raw = (bytes) => { out.set(bytes, pos); pos += bytes.length; };
  const offsets = [];
  for (const e of entries) { // local file header, then the file's bytes
    offsets.push(pos);
    u32(0x04034b50); u16(VERSION); u16(UTF8_NAMES); u16(0); u16(time); u16(day);
    u32(e.crc); u32(e.bytes.length); u32(e.bytes.length); u16(e.name.length); u16(0);
    raw(e.name); raw(e.bytes);
  }
  entries.forEach((e, i) => { // central directory: the same facts again, and where each file starts
    u32(0x02014b50); u16(VERSION); u16(VERSION); u16(UTF8_NAMES); u16(0); u16(time); u16(day);
    u32(e.crc); u32(e.bytes.length); u32(e.bytes.length); u16(e.name.length); u16(0); u16(0);
    u16(0); u16(0); u32(0); u32(offsets[i]);
    raw(e.name);
  });
  // end of central directory: this disk, the disk where it starts, the entries, its size and place
  u32(0x06054b50); u16(0); u16(0); u16(entries.length); u16(entries.length);
  u32(centralSize); u32(localSize); u16(0);
  return out;
}
