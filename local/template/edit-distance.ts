/** Levenshtein distance, case-insensitive, for did-you-mean hints; a dozen lines, not worth a dependency. */
export const editDistance = (a: string, b: string): number => {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  const row = Array.from({ length: y.length + 1 }, (_, index) => index);
  for (let i = 1; i <= x.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= y.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (x[i - 1] === y[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[y.length]!;
};

/** The candidate nearest a name, the first of those as near, with its distance; undefined when there are none. */
export const nearest = (
  name: string,
  candidates: Iterable<string>,
): { readonly name: string; readonly score: number } | undefined => {
  let best: { name: string; score: number } | undefined;
  for (const candidate of candidates) {
    const score = editDistance(name, candidate);
    if (!best || score < best.score) best = { name: candidate, score };
  }
  return best;
};
