// piscina's empty task: returns at once. What a task costs piscina with no work in it (BENCHMARKS.md §6).
export default function empty() {
  return 0;
}
