// Renders the WiX source (templates/msi/product.wxs.hbs) that wixl builds the shared payload MSI from.
import { readFile } from 'node:fs/promises';
import HandlebarsModule from 'handlebars';

import { checkXmlValues, registerXmlHelpers } from '../../common/xml.js';
import { repoFile } from './tools.js';

export interface WxsValues {
  productCode: string;
  upgradeCode: string;
  product: string;
  vendor: string;
  version: string;
  fleet: string;
  customerFormatted: string;
  keepIdentity: '0' | '1';
  serviceName: string;
  guids: { runtime: string; agent: string; service: string; fleet: string; registry: string; data: string };
  /** File names relative to the folder wixl runs in (wixl rejects absolute Source paths). */
  payload: { nodeExe: string; agentBundle: string; serviceExe: string; configureDll: string };
}

export const WXS_TEMPLATE = 'templates/msi/product.wxs.hbs';

const Handlebars = HandlebarsModule.create();
registerXmlHelpers(Handlebars);
let compiled: HandlebarsTemplateDelegate<WxsValues> | undefined;

export async function wxsTemplateText(): Promise<string> {
  return readFile(repoFile(WXS_TEMPLATE), 'utf8');
}

/** WXS text; every value goes through {{xml}} (common/xml.ts), and strict mode refuses a missing value. */
export async function renderWxs(values: WxsValues): Promise<string> {
  compiled ??= Handlebars.compile<WxsValues>(await wxsTemplateText(), { strict: true, noEscape: true });
  checkXmlValues(values, WXS_TEMPLATE);
  return compiled(values, { data: { template: WXS_TEMPLATE } });
}
