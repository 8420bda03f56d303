// The API's resources as their JSON arrives (proto3 JSON: lowerCamelCase, enums by name, int64 as strings).
export interface Tenant {
  name: string;
  tenantId: string;
  displayName: string;
  code?: string;
  state?: 'TENANT_STATE_ACTIVE' | 'TENANT_STATE_SUSPENDED';
  plan?: 'PLAN_FREE' | 'PLAN_STANDARD' | 'PLAN_ENTERPRISE';
  contactEmail?: string;
  suspendReason?: string;
  createTime?: string;
  etag?: string;
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
