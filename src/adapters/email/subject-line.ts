// How long a subject may be, and what gives way when it is longer: the one rule, for every email
// kind and language. A subject under 70 characters shows whole in a phone's inbox and in most
// clients' message lists. The request id is what people search for and quote, so it is never
// shortened; the requester's name and the operation give way instead, in this order:
//   1. the name is cut to fit, to no fewer than NAME_BESIDE_OPERATION characters, ending in "…";
//   2. otherwise the operation is left out (the email's heading and first lines name it), and the
//      name gets the room it leaves, cut to no fewer than NAME_ALONE characters;
//   3. otherwise (a request id so long it leaves the name no room) the name is left out too.
// Characters are counted as code points, and a name is cut between graphemes, so neither an emoji
// nor a letter with its accent is split.

/** The longest subject, in characters: under 70. */
export const SUBJECT_MAX = 69;
/** The shortest a cut name may be while the operation is shown beside it ("…" included). */
export const NAME_BESIDE_OPERATION = 12;
/** The shortest a cut name may be at all ("…" included); shorter, it is left out. */
export const NAME_ALONE = 4;

/** What a subject may show besides its words and the request id ('' leaves a part out). */
export interface SubjectParts {
  operation: string;
  name: string;
}

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

export const subjectLength = (text: string): number => [...text].length;

/** `name` in at most `max` characters: whole if it fits, else cut between graphemes and ended with "…". */
export function shortenName(name: string, max: number): string {
  if (subjectLength(name) <= max) return name;
  let kept = '';
  for (const { segment } of graphemes.segment(name)) {
    if (subjectLength(kept) + subjectLength(segment) > max - 1) break;
    kept += segment;
  }
  // "Anna S…", not "Anna …" or "Anna-…".
  return `${kept.replace(/[\s\p{P}]+$/u, '')}…`;
}

/**
 * The subject `render` makes of the parts, with as much of `parts` as fits in SUBJECT_MAX. `render`
 * must put the parts in as given (one line, no whitespace of its own around a missing part).
 */
export function fitSubject(render: (parts: SubjectParts) => string, parts: SubjectParts): string {
  const attempts: Array<[operation: string, shortestName: number]> = [
    [parts.operation, NAME_BESIDE_OPERATION],
    ['', NAME_ALONE],
  ];
  for (const [operation, shortestName] of attempts) {
    const whole = render({ operation, name: parts.name });
    if (subjectLength(whole) <= SUBJECT_MAX) return whole;
    // The name's room: the line with a one-character name, less that character.
    const room = SUBJECT_MAX - (subjectLength(render({ operation, name: 'x' })) - 1);
    if (room < shortestName || room >= subjectLength(parts.name)) continue;
    const cut = render({ operation, name: shortenName(parts.name, room) });
    if (subjectLength(cut) <= SUBJECT_MAX) return cut;
  }
  return render({ operation: '', name: '' });
}
