/**
 * Requests across the worker IPC channel that wait for an answer: each goes out under
 * a fresh id and the answer carrying that id settles it. One table per kind of request
 * (the primary's collects, a worker's certificate and CSDS fleet requests), one shape.
 */
export class RequestTable<Answer> {
  private nextId = 1;
  private readonly waiting = new Map<number, (answer: Answer) => void>();

  /**
   * Sends a request under a fresh id (`send` puts the id in the message); resolves with
   * its answer, or with `timeout.answer` after `timeout.ms` when the peer says nothing
   * (a worker that died mid-request must not hold the admin API).
   */
  request(send: (id: number) => void, timeout?: { ms: number; answer: Answer }): Promise<Answer> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = timeout && setTimeout(() => finish(timeout.answer), timeout.ms);
      const finish = (answer: Answer) => {
        if (timer) clearTimeout(timer);
        this.waiting.delete(id);
        resolve(answer);
      };
      this.waiting.set(id, finish);
      send(id);
    });
  }

  /** The answer to request `id`; one to a request that timed out or was never made is dropped. */
  settle(id: number, answer: Answer): void {
    this.waiting.get(id)?.(answer);
  }
}
