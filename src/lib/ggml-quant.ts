/**
 * The ggml block formats the GGUF fixture writes besides F32 and F16, so benchmarks cover the quantized
 * models users run (Q8_0, Q4_K). Layouts follow llama.cpp's ggml-common.h; each `quantize*` is the
 * straightforward round-to-nearest version (no importance matrix: the weights are random anyway), and
 * `dequantize` is llama.cpp's reference decoding, for tests.
 */

export const GGML = { F32: 0, F16: 1, Q5_0: 6, Q8_0: 8, Q4_K: 12 } as const;
export type GgmlType = (typeof GGML)[keyof typeof GGML];

/** Elements per block and bytes per block of each type. */
const LAYOUT: Record<GgmlType, { block: number; bytes: number }> = {
  [GGML.F32]: { block: 1, bytes: 4 },
  [GGML.F16]: { block: 1, bytes: 2 },
  [GGML.Q5_0]: { block: 32, bytes: 2 + 4 + 16 },
  [GGML.Q8_0]: { block: 32, bytes: 2 + 32 },
  [GGML.Q4_K]: { block: 256, bytes: 2 + 2 + 12 + 128 },
};

export function blockSize(type: GgmlType): number {
  return LAYOUT[type].block;
}

export function rowBytes(type: GgmlType, elements: number): number {
  const { block, bytes } = LAYOUT[type];
  if (elements % block !== 0) throw new Error(`a row of ${elements} is not a multiple of ${block}`);
  return (elements / block) * bytes;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** IEEE 754 binary32 → binary16 bits (round toward zero; the weights are random anyway). */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | ((x >>> 13) & 0x3ff);
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Encodes `values` (whole rows) as `type`. */
export function quantize(values: Float32Array, type: GgmlType): Buffer {
  const { block, bytes } = LAYOUT[type];
  if (type === GGML.F32) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (type === GGML.F16) {
    // Element by element, without the block loop below: F16 models are the fixtures' largest.
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = toHalf(values[i] ?? 0);
    return Buffer.from(half.buffer);
  }
  if (values.length % block !== 0)
    throw new Error(`${values.length} values are not whole blocks of ${block}`);
  const out = Buffer.alloc((values.length / block) * bytes);
  for (let b = 0; b * block < values.length; b++) {
    const x = values.subarray(b * block, (b + 1) * block);
    const o = out.subarray(b * bytes, (b + 1) * bytes);
    if (type === GGML.Q8_0) blockQ8_0(x, o);
    else if (type === GGML.Q5_0) blockQ5_0(x, o);
    else blockQ4_K(x, o);
  }
  return out;
}

function absMax(x: Float32Array): number {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

/** d (f16), then 32 int8: x = d·q. */
function blockQ8_0(x: Float32Array, o: Buffer): void {
  const d = fromHalf(toHalf(absMax(x) / 127));
  o.writeUInt16LE(toHalf(d));
  for (let i = 0; i < 32; i++) o.writeInt8(d ? clamp(Math.round((x[i] ?? 0) / d), -127, 127) : 0, 2 + i);
}

/** d (f16), the fifth bits (u32), 16 bytes of nibbles (elements j and j+16): x = d·(q − 16). */
function blockQ5_0(x: Float32Array, o: Buffer): void {
  // As llama.cpp: the value of largest magnitude maps to −16, so its sign picks d's.
  let max = 0;
  for (const v of x) if (Math.abs(v) > Math.abs(max)) max = v;
  const d = fromHalf(toHalf(max / -16));
  o.writeUInt16LE(toHalf(d));
  let qh = 0;
  const q = (i: number) => (d ? clamp(Math.round((x[i] ?? 0) / d) + 16, 0, 31) : 16);
  for (let j = 0; j < 16; j++) {
    const lo = q(j);
    const hi = q(j + 16);
    o[6 + j] = (lo & 0xf) | ((hi & 0xf) << 4);
    qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16));
  }
  o.writeUInt32LE(qh >>> 0, 2);
}

/**
 * 256 elements in 8 sub-blocks of 32, each with a 6-bit scale and min: x = d·sc·q − dmin·m, q in 0..15.
 * Layout: d, dmin (f16), 12 bytes of packed scales and mins, 128 bytes of nibbles (sub-blocks 2k and
 * 2k+1 share 32 bytes, low and high nibble).
 */
function blockQ4_K(x: Float32Array, o: Buffer): void {
  const scale: number[] = [];
  const min: number[] = [];
  for (let j = 0; j < 8; j++) {
    const sub = x.subarray(j * 32, j * 32 + 32);
    let lo = 0;
    let hi = 0;
    for (const v of sub) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    scale.push((hi - lo) / 15);
    min.push(-lo);
  }
  const d = fromHalf(toHalf(Math.max(...scale) / 63));
  const dmin = fromHalf(toHalf(Math.max(...min) / 63));
  const sc = scale.map((s) => (d ? clamp(Math.round(s / d), 0, 63) : 0));
  const m = min.map((v) => (dmin ? clamp(Math.round(v / dmin), 0, 63) : 0));
  o.writeUInt16LE(toHalf(d), 0);
  o.writeUInt16LE(toHalf(dmin), 2);
  const s = o.subarray(4, 16);
  for (let j = 0; j < 4; j++) {
    s[j] = (byteAt(sc, j) & 63) | ((byteAt(sc, j + 4) >> 4) << 6);
    s[j + 4] = (byteAt(m, j) & 63) | ((byteAt(m, j + 4) >> 4) << 6);
    s[j + 8] = (byteAt(sc, j + 4) & 0xf) | ((byteAt(m, j + 4) & 0xf) << 4);
  }
  for (let j = 0; j < 8; j++) {
    const step = d * byteAt(sc, j);
    const offset = dmin * byteAt(m, j);
    for (let l = 0; l < 32; l++) {
      const q = step ? clamp(Math.round(((x[j * 32 + l] ?? 0) + offset) / step), 0, 15) : 0;
      const at = 16 + (j >> 1) * 32 + l;
      o[at] = j % 2 === 0 ? q : byteAt(o, at) | (q << 4);
    }
  }
}

/** llama.cpp's get_scale_min_k4. */
function scaleMinK4(j: number, s: Uint8Array): [number, number] {
  if (j < 4) return [byteAt(s, j) & 63, byteAt(s, j + 4) & 63];
  return [
    (byteAt(s, j + 4) & 0xf) | ((byteAt(s, j - 4) >> 6) << 4),
    (byteAt(s, j + 4) >> 4) | ((byteAt(s, j) >> 6) << 4),
  ];
}

/** Decodes `type` back to floats, as llama.cpp's dequantize_row_* does. */
export function dequantize(data: Buffer, type: GgmlType, count: number): Float32Array {
  const { block, bytes } = LAYOUT[type];
  const y = new Float32Array(count);
  for (let b = 0; b * block < count; b++) {
    const o = data.subarray(b * bytes, (b + 1) * bytes);
    const at = b * block;
    if (type === GGML.F32) y[at] = o.readFloatLE(0);
    else if (type === GGML.F16) y[at] = fromHalf(o.readUInt16LE(0));
    else if (type === GGML.Q8_0) {
      const d = fromHalf(o.readUInt16LE(0));
      for (let i = 0; i < 32; i++) y[at + i] = d * o.readInt8(2 + i);
    } else if (type === GGML.Q5_0) {
      const d = fromHalf(o.readUInt16LE(0));
      const qh = o.readUInt32LE(2);
      for (let j = 0; j < 16; j++) {
        const xh0 = ((qh >>> j) << 4) & 0x10;
        const xh1 = (qh >>> (j + 12)) & 0x10;
        y[at + j] = d * (((byteAt(o, 6 + j) & 0xf) | xh0) - 16);
        y[at + j + 16] = d * (((byteAt(o, 6 + j) >> 4) | xh1) - 16);
      }
    } else {
      const d = fromHalf(o.readUInt16LE(0));
      const dmin = fromHalf(o.readUInt16LE(2));
      const s = o.subarray(4, 16);
      for (let j = 0; j < 8; j++) {
        const [sc, m] = scaleMinK4(j, s);
        for (let l = 0; l < 32; l++) {
          const byte = byteAt(o, 16 + (j >> 1) * 32 + l);
          const q = j % 2 === 0 ? byte & 0xf : byte >> 4;
          y[at + j * 32 + l] = d * sc * q - dmin * m;
        }
      }
    }
  }
  return y;
}

function byteAt(a: ArrayLike<number>, i: number): number {
  return a[i] ?? 0;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
