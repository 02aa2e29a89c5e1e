/** `{...defaults, ...options}`, except that an option given as `undefined` keeps the default
 * (the client passes every timing option through, set or not). */
export function withDefaults(defaults, options = {}) {
  const merged = { ...defaults };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) merged[key] = value;
  return merged;
}
