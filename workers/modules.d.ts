// What wrangler's module rules (wrangler.toml) turn these files into.
declare module "*.safetensors" {
  const bytes: ArrayBuffer;
  export default bytes;
}
declare module "*.txt" {
  const text: string;
  export default text;
}
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
declare module "*.html" {
  const text: string;
  export default text;
}
declare module "*/playground/dist/app.js" {
  const text: string;
  export default text;
}
declare module "*/playground/dist/local_worker.js" {
  const text: string;
  export default text;
}
