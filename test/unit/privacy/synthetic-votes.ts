// Deterministic synthetic vote histograms (250 teachers, 10 classes) shared by tests and the bench; same formula as the reference-case generator.

/** Query i puts 60 + (37i mod 191) votes on class i mod 10 and spreads the rest by a fixed rule. */
export function syntheticVotes(n: number, teachers = 250, classes = 10): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const top = 60 + ((i * 37) % 191);
    const v = new Array<number>(classes).fill(0);
    const topClass = i % classes;
    v[topClass] = top;
    for (let j = 0; j < teachers - top; j++) {
      const c = (i + 1 + j * 7 + ((j * j) % 3)) % classes;
      v[c !== topClass ? c : (i + 2) % classes]! += 1;
    }
    out.push(v);
  }
  return out;
}
