// Which one-click email links have decided: each may decide once.
import type { DataSource } from 'typeorm';

export class EmailLinkUses {
  constructor(private readonly dataSource: DataSource) {}

  /** Takes the link for this decision; false when it was used before. */
  async take(linkId: string, requestId: string, decisionId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO email_link_uses (link_id, request_id, decision_id) VALUES ($1, $2, $3) ON CONFLICT (link_id) DO NOTHING RETURNING link_id`,
      [linkId, requestId, decisionId],
    );
    return rows.length > 0;
  }

  /** Gives a link back when its decision could not be published. */
  async giveBack(linkId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM email_link_uses WHERE link_id = $1`, [linkId]);
  }

  async used(linkId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM email_link_uses WHERE link_id = $1`, [linkId]);
    return rows.length > 0;
  }
}
