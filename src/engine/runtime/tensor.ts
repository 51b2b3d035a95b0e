// What crosses between the engine and runtime/onnx.ts (the only onnxruntime user): plain host tensors,
// and opaque handles to tensors that stay in a GPU session's memory (WebGPU buffers).

export type FloatDType = "float32" | "float16";
export type DType = FloatDType | "int64";

/** float16 data is raw IEEE half bits (onnxruntime-node takes and returns Uint16Array). */
export type FloatData = Float32Array | Uint16Array;

export interface HostTensor {
  dtype: DType;
  data: Float32Array | Uint16Array | BigInt64Array;
  dims: number[];
}

/**
 * A tensor in device memory, produced by a graph opened with it among `deviceOutputs`. Feed it to
 * graphs on the same device; its memory is freed only by `dispose()`.
 */
export interface DeviceTensor {
  readonly location: "device";
  readonly dtype: DType;
  readonly dims: readonly number[];
  dispose(): void;
}

export type AnyTensor = HostTensor | DeviceTensor;

export function isDeviceTensor(t: AnyTensor): t is DeviceTensor {
  return (t as DeviceTensor).location === "device";
}

export function bytesPerElement(dtype: DType): number {
  return dtype === "float16" ? 2 : dtype === "float32" ? 4 : 8;
}

export function int64(values: ArrayLike<number>, dims: number[]): HostTensor {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i] as number);
  return { dtype: "int64", data, dims };
}

/** `length` zeros; with a larger `capacity`, a view over a buffer with room to grow into. */
export function floats(dtype: FloatDType, length: number, capacity = length): FloatData {
  return dtype === "float16"
    ? new Uint16Array(new ArrayBuffer(capacity * 2), 0, length)
    : new Float32Array(new ArrayBuffer(capacity * 4), 0, length);
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits → number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** number → IEEE binary16 bits, round to nearest even (for fp16 inputs such as pixel values). */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  let e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (rest > midpoint || (rest === midpoint && half & 1) ? 1 : 0));
  }
  const rest = mantissa & 0x1fff;
  let half = (e << 10) | (mantissa >> 13);
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half += 1;
  e = half >> 10;
  return sign | half;
}

/** A float tensor's values as float32 (copies fp16; returns fp32 data as is). */
export function toFloat32(data: FloatData): Float32Array {
  if (data instanceof Float32Array) return data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = halfToFloat(data[i] as number);
  return out;
}

export function fromFloat32(values: Float32Array, dtype: FloatDType): FloatData {
  if (dtype === "float32") return values;
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i] as number);
  return out;
}
