/** The Node engine's wind-down flag, read by the flows and by sessions deciding whether to move. */

/**
 * True once starling's Node engine asks the run to wind down (first Ctrl+C): sessions then close with
 * `<close/>` instead of being cut. Real k6 never sets it, and cuts iterations on Ctrl+C.
 */
export function stopping(): boolean {
  return __ENV.STARLING_STOPPING === '1';
}
