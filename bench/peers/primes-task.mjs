// The primes fixture's count in JS (every odd candidate below `limit`, trial division), one task per
// request on piscina's persistent workers.
export default function countPrimes(limit) {
  let found = limit > 2 ? 1 : 0;
  for (let n = 3; n < limit; n += 2) {
    let prime = true;
    for (let d = 3; d * d <= n; d += 2) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) found++;
  }
  return found;
}
