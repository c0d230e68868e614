/**
 * Requests waiting for a connection, modelled on Go's wantConn and wantConnQueue: a
 * WantConn is delivered exactly once — a connection, or an error — or cancelled (its
 * caller gave up), and leaves every queue it is in at that moment, in O(1).
 *
 * Ownership: WantConns and queues are written only by the pool (pool.ts), on the event
 * loop. Delivery to the waiter is deferred by one microtask, so a waiter aborted in the
 * same turn as its delivery still sees its abort before it starts an exchange.
 */
import type { PreparedRequest } from "./prepared.js";

/** A FIFO with O(1) removal of any element through the node push() returned. */
export class WaitQueue<T> {
  #head: QueueNode<T> | null = null;
  #tail: QueueNode<T> | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(value: T): QueueNode<T> {
    const node: QueueNode<T> = { value, prev: this.#tail, next: null, queued: true };
    if (this.#tail === null) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    this.#size++;
    return node;
  }

  /** The oldest element, or undefined. */
  peek(): T | undefined {
    return this.#head?.value;
  }

  shift(): T | undefined {
    const node = this.#head;
    if (node === null) return undefined;
    this.remove(node);
    return node.value;
  }

  remove(node: QueueNode<T>): void {
    if (!node.queued) return;
    node.queued = false;
    if (node.prev === null) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.#tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
    this.#size--;
  }

  /** Removes and returns every element, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let v = this.shift(); v !== undefined; v = this.shift()) out.push(v);
    return out;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let n = this.#head; n !== null; n = n.next) yield n.value;
  }
}

export interface QueueNode<T> {
  value: T;
  prev: QueueNode<T> | null;
  next: QueueNode<T> | null;
  /** Still in its queue. */
  queued: boolean;
}

/** Who waits on a WantConn: the round trip of one request. */
export interface Waiter<C> {
  /**
   * A connection for the request. `fromIdle`: taken from the idle list (Go's WasIdle);
   * `reserved`: a stream slot of it is held for this waiter, to be released at start.
   * `now`: performance.now() when the pool has just read it, else -1.
   */
  gotConn(conn: C, fromIdle: boolean, reserved: boolean, now: number): void;
  /** No connection will come: a failed dial, an abort, the transport closing. */
  connFailed(err: Error): void;
}

export class WantConn<C> {
  /** Delivered (a connection or an error) or cancelled. */
  done = false;
  /** Its place in its host's queue of waiting requests. */
  waiting: QueueNode<WantConn<C>> | null = null;
  /** Its place in its host's queue of requests waiting to start a dial. */
  toDial: QueueNode<WantConn<C>> | null = null;
  /** A dial started for it is in progress. */
  dialing = false;
  /** Undoes what waiting set up (the abort listener); run once when it settles. */
  onSettle: (() => void) | null = null;

  constructor(
    readonly req: PreparedRequest,
    readonly waiter: Waiter<C>,
  ) {}

  /** Hands `conn` to the waiter; false if it already settled. */
  tryDeliver(conn: C, reserved: boolean): boolean {
    if (!this.#settle()) return false;
    queueMicrotask(() => this.waiter.gotConn(conn, false, reserved, -1));
    return true;
  }

  /** Fails the waiter with `err`; false if it already settled. */
  tryFail(err: Error): boolean {
    if (!this.#settle()) return false;
    this.waiter.connFailed(err);
    return true;
  }

  /** The waiter gave up: it leaves its queues; false if it already settled. */
  cancel(): boolean {
    return this.#settle();
  }

  #settle(): boolean {
    if (this.done) return false;
    this.done = true;
    const fn = this.onSettle;
    this.onSettle = null;
    fn?.();
    return true;
  }
}
