/**
 * Lazy pagination: async iterators that fetch the next page only when the
 * previous one is used up. Heimdall has four page styles (see the OpenAPI
 * schema): page numbers (`page`/`page_size`, `pagination.has_next`), keyset
 * cursors on detections (`cursor`, `pagination.next_cursor`), skip/limit
 * (`skip`/`limit`, `pagination.total`) and limit/offset on training lists
 * (`limit`/`offset`, `total`).
 */

export interface Paginated<T> extends AsyncIterable<T> {
  /** Every page, lazily: `for await (const page of it.pages())`. */
  pages(): AsyncIterable<T[]>;
  /** Collect at most `limit` items (default: all) into an array. */
  toArray(limit?: number): Promise<T[]>;
}

export function paginate<T, P>(
  first: P,
  fetchPage: (cursor: P) => Promise<{ items: T[]; next: P | null }>,
): Paginated<T> {
  async function* pages(): AsyncGenerator<T[]> {
    let cursor: P | null = first;
    while (cursor !== null) {
      const { items, next }: { items: T[]; next: P | null } = await fetchPage(cursor);
      yield items;
      cursor = items.length ? next : null;
    }
  }
  return {
    pages,
    async *[Symbol.asyncIterator]() {
      for await (const page of pages()) yield* page;
    },
    async toArray(limit = Infinity) {
      const out: T[] = [];
      if (limit <= 0) return out;
      for await (const page of pages()) {
        for (const item of page) {
          out.push(item);
          if (out.length >= limit) return out;
        }
      }
      return out;
    },
  };
}
