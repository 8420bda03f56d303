// A telemetry value as the user reads it, in the current language and with its metric's unit: shared by the devices
// list and the device page (which also draws charts, so the list does not import it).
import { formatNumber, t } from './i18n';
import type { DataPoint } from './types';

export function formatValue(value: DataPoint['value'], unit?: string): string {
  let shown: string;
  if (value.doubleValue !== undefined) shown = formatNumber(value.doubleValue, { maximumFractionDigits: 6 });
  else if (value.intValue !== undefined) shown = formatNumber(Number(value.intValue));
  else if (value.boolValue !== undefined) shown = value.boolValue ? t('common.true') : t('common.false');
  else shown = value.stringValue ?? '';
  return unit ? `${shown} ${unit}` : shown;
}
