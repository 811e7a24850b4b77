// A connector's state as /readyz, `status` and the dashboard report it.
export interface ConnectorReadiness {
  readonly connector: string;
  readonly state: 'running' | 'paused' | 'blocked' | 'disabled';
  readonly reason?: string;
}
