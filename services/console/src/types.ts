// The API's resources as their JSON arrives (proto3 JSON: lowerCamelCase, enums by name, int64 as strings).
export interface Tenant {
  name: string;
  tenantId: string;
  displayName: string;
  code?: string;
  state?: 'TENANT_STATE_ACTIVE' | 'TENANT_STATE_SUSPENDED';
  plan?: 'PLAN_FREE' | 'PLAN_STANDARD' | 'PLAN_ENTERPRISE';
  quota?: Quota;
  provider?: boolean;
  contactEmail?: string;
  suspendReason?: string;
  createTime?: string;
  etag?: string;
}

// A tenant's limits (proto Quota): the int64 fields arrive as strings, the int32 ones as numbers.
export interface Quota {
  maxDevices?: string;
  maxIngestPointsPerSecond?: string;
  retentionDays?: number | string;
  maxInstalledApps?: number | string;
}

export interface ApiKey {
  name: string;
  keyId: string;
  displayName: string;
  role: string;
  createTime?: string;
  revokeTime?: string;
  expireTime?: string;
}

export interface MetricSpec {
  name: string;
  unit?: string;
  valueType: string;
}

export interface DeviceType {
  name: string;
  deviceTypeId: string;
  displayName: string;
  version?: string;
  metrics?: MetricSpec[];
}

export interface Device {
  name: string;
  deviceId: string;
  deviceTypeId: string;
  serialNumber: string;
  displayName?: string;
  labels?: Record<string, string>;
  state?: string;
  lastSeenTime?: string;
  createTime?: string;
}

export interface DataPoint {
  device: string;
  metric: string;
  time: string;
  value: { doubleValue?: number; intValue?: string; boolValue?: boolean; stringValue?: string };
}

// One Aggregate bucket. Zero values are left out of proto3 JSON; `count` is an int64, so a string.
export interface Bucket {
  startTime: string;
  count?: string;
  min?: number;
  max?: number;
  avg?: number;
  sum?: number;
}

export interface Pricing {
  model?: string;
  // int64 in fen (1 CNY = 100 fen), a string in proto3 JSON.
  priceFen?: string;
}

export interface App {
  name: string;
  appId: string;
  provider: string;
  displayName: string;
  summary?: string;
  description?: string;
  category?: string;
  tags?: string[];
  vendor?: string;
  homepage?: string;
  listed?: boolean;
  latestVersion?: string;
  pricing?: Pricing;
  ratingMilli?: number;
  ratingCount?: number;
  installCount?: string;
}

export interface AppVersion {
  name: string;
  version: string;
  changelog?: string;
  image?: string;
  requestedScopes?: string[];
  writeMetrics?: string[];
  pricing?: Pricing;
  state?: string;
  reviewReason?: string;
  createTime?: string;
  updateTime?: string;
}

export interface Grant {
  scopes: string[];
  dataScope?: { deviceLabels?: Record<string, string>; metrics?: string[] };
}

export interface Installation {
  name: string;
  app: string;
  version: string;
  grant?: Grant;
  state?: string;
  pricing?: Pricing;
  grantedDevices?: string;
  createTime?: string;
  uninstallTime?: string;
  upgradeAvailable?: string;
}

export interface Rating {
  name: string;
  tenant: string;
  stars: number;
  review?: string;
  updateTime?: string;
}

export interface AuditEvent {
  name: string;
  eventId: string;
  time?: string;
  actor?: string;
  actorRole?: string;
  action?: string;
  resource?: string;
  detailsJson?: string;
}

// What a tenant uses of its quota (proto TenantUsage): int64 figures arrive as strings and zero values are left out
// of the JSON; `ingestPointsPerSecond` is absent only when the server has no Redis to count ingest in.
export interface TenantUsage {
  name: string;
  devices?: string;
  ingestPointsPerSecond?: number;
  storedBytes?: string;
  installedApps?: number;
  quota?: Quota;
  readTime?: string;
}
