// Stands in for sharp in the GPU benchmark's bundle: its prompts have no images, and sharp's native
// library would not fit in what the GPU machine can be sent.
export default function sharp(): never {
  throw new Error("images are not supported in the GPU benchmark bundle");
}
