// An empty piscina task: what dispatch costs with nothing to do.
export default function emptyTask() {}
