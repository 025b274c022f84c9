/**
 * Counts the turns of the event loop from now until `stop()`: a piece of work that lets the loop
 * run lets this count grow while it is awaited; one that holds the loop leaves it near zero.
 */
export function countTurns(): { stop(): number } {
  let turns = 0;
  let counting = true;
  const count = () => {
    turns++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  return {
    stop() {
      counting = false;
      return turns;
    },
  };
}
