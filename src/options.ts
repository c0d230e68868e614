/**
 * Options objects are read from their own properties only. A property inherited from
 * Object.prototype — put there by a prototype-pollution bug anywhere in the process
 * (`merge(target, JSON.parse(input))` with a `__proto__` key) — must not become a live
 * `proxy`, `dial`, `jar`, `host`, `headers` or `url`; nor may one inherited from a class.
 * Every reader of an options object (Transport, Client, request options, fetch init,
 * serveFile/serveContent, file()) passes it through ownOptions first.
 */

const OBJECT_PROTOTYPE = Object.prototype;

/** Whether Object.prototype holds an enumerable property (what pollution by assignment leaves). */
function objectPrototypeIsPolluted(): boolean {
  for (const _ in OBJECT_PROTOTYPE) return true;
  return false;
}

/**
 * `options` as an object whose every property is its own: the object itself when that is
 * already so (a plain object or a null-prototype one, and nothing enumerable on
 * Object.prototype; costs a few ns), else a null-prototype copy of its own properties.
 * The copy is shallow and reads each property once (getters included).
 */
export function ownOptions<T extends object>(options: T): T;
export function ownOptions<T extends object>(options: T | null | undefined): T | undefined;
export function ownOptions<T extends object>(options: T | null | undefined): T | undefined {
  if (options == null) return undefined;
  const proto: unknown = Object.getPrototypeOf(options);
  if (proto === null || (proto === OBJECT_PROTOTYPE && !objectPrototypeIsPolluted())) return options;
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(options))
    copy[key] = (options as Record<string, unknown>)[key];
  return copy as T;
}

/**
 * A method of `obj` found on the object or a class it is an instance of, never on
 * Object.prototype (trace hooks may be class methods; a polluted `getConn` must not run).
 */
export function methodOf(obj: object, name: string): unknown {
  for (let o: object | null = obj; o !== null && o !== OBJECT_PROTOTYPE; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d !== undefined) return d.get !== undefined ? (obj as Record<string, unknown>)[name] : d.value;
  }
  return undefined;
}
