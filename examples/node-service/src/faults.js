// @ts-check
// Deterministic fault injection: request n fails when floor(n * rate) steps up, so exactly
// `rate` of the requests fail, spread evenly. A canary comparison then sees the real ratio,
// not a random sample of it.

export class Faults {
  /** @param {number} rate */
  constructor(rate) {
    this.rate = Math.min(rate, 1);
    this.count = 0;
  }

  /** Whether this request should fail. */
  next() {
    this.count += 1;
    return Math.floor(this.count * this.rate) > Math.floor((this.count - 1) * this.rate);
  }
}
