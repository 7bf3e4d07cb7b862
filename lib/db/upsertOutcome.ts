/** What an upsert did with each row, by id: every repository's upsert answers in this shape. */
export interface UpsertOutcome {
  readonly created: readonly string[];
  readonly updated: readonly string[];
  /** Rows the upsert left as they were (identical already, or older than what is stored). */
  readonly unchanged: readonly string[];
}
