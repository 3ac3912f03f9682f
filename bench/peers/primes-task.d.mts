/** The primes fixture's count in JS, one task per request on piscina's workers (see primes-task.mjs). */
export default function countPrimes(limit: number): number;
