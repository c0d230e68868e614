// Which module holds which client, so a child process imports only the library it measures
// (loading got and axios into undici's process would inflate its RSS).

export const CLIENT_MODULES = {
  "roundtrip.request": "roundtrip.mjs",
  "roundtrip.request (FormData)": "roundtrip.mjs",
  "roundtrip.request (pipeline)": "roundtrip.mjs",
  "roundtrip.roundTrip": "roundtrip.mjs",
  "roundtrip.fetch": "roundtrip.mjs",
  "undici.request": "undici.mjs",
  "undici.stream": "undici.mjs",
  "undici.dispatch": "undici.mjs",
  "undici.dispatch (Pool)": "undici.mjs",
  "undici.fetch": "undici.mjs",
  "node:http": "nodehttp.mjs",
  got: "got.mjs",
  axios: "axios.mjs",
  floor: "floor.mjs",
};

export async function loadVariant(name) {
  const file = CLIENT_MODULES[name];
  if (!file) throw new Error(`unknown client ${name}`);
  const mod = await import(new URL(file, import.meta.url).href);
  const variant = mod.variants[name];
  if (!variant) throw new Error(`${file} has no variant ${name}`);
  return { variant, mod };
}
