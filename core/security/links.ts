// Phishing-link checks on message text: pure, no I/O. A link is suspicious when its host hides
// what it is (punycode, mixed scripts, a raw IP, a shortener), imitates one of the business's own
// domains, or leads to a credential-bait path; allow and deny lists override the heuristics.
import { domainToUnicode } from 'node:url';

export interface LinkPolicy {
  /** The business's own domains (e.g. acme.com): look-alikes of them are flagged. */
  readonly brandDomains: readonly string[];
  /** Domains (and their subdomains) never flagged. Brand domains are always allowed. */
  readonly allow: readonly string[];
  /** Domains (and their subdomains) always flagged. */
  readonly deny: readonly string[];
}

export interface LinkFinding {
  readonly url: string;
  readonly host: string;
  readonly reasons: readonly string[];
}

const SHORTENERS = new Set(['bit.ly', 'tinyurl.com', 't.co', 'goo.gl', 'ow.ly', 'is.gd', 'buff.ly', 'rebrand.ly', 'cutt.ly', 'shorturl.at', 'tiny.cc', 'rb.gy', 's.id', 't.ly', 'v.gd', 'lnkd.in', 'shorte.st', 'bl.ink']);
/** Second-level labels under which registrations happen (acme.co.uk is acme's, not co.uk's). */
const SECOND_LEVEL = new Set(['co', 'com', 'net', 'org', 'gov', 'edu', 'ac', 'gob', 'or', 'ne']);
const BAIT_WORDS = /(?:^|[/._-])(log-?in|sign-?in|verify|verification|account|password|passwd|reset|unlock|suspend(?:ed)?|secure|security|wallet|billing|invoice|payment|confirm|update|2fa|otp|kyc)(?:$|[/._?-])/i;
/** Letters that pass for others at a glance, folded before comparing with brand names. */
const LOOKALIKES: ReadonlyArray<[RegExp, string]> = [
  [/rn/g, 'm'],
  [/vv/g, 'w'],
  [/0/g, 'o'],
  [/[1!|]/g, 'l'],
  [/3/g, 'e'],
  [/5/g, 's'],
  [/\$/g, 's'],
  [/@/g, 'a'],
  [/i/g, 'l'],
];

// http(s) URLs and bare www. hosts; a trailing sentence punctuation mark is not part of the link.
const URL_PATTERN = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/gi;

/** The links in a text, as written. */
export function findLinks(text: string): string[] {
  return [...text.matchAll(URL_PATTERN)].map((m) => m[0].replace(/[.,;:!?)\]}]+$/, ''));
}

function hostMatches(host: string, domain: string): boolean {
  const d = domain.toLowerCase().replace(/^\*?\./, '');
  return host === d || host.endsWith(`.${d}`);
}

/** acme.co.uk → acme.co.uk, login.acme.com → acme.com (a close enough reading of the public suffix list). */
export function registrableDomain(host: string): string {
  const labels = host.split('.');
  if (labels.length <= 2) return host;
  const keep = SECOND_LEVEL.has(labels[labels.length - 2]!) && labels[labels.length - 1]!.length === 2 ? 3 : 2;
  return labels.slice(-keep).join('.');
}

function fold(label: string): string {
  return LOOKALIKES.reduce((s, [pattern, to]) => s.replace(pattern, to), label.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase());
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

const SCRIPTS = ['Latin', 'Cyrillic', 'Greek', 'Armenian', 'Hebrew', 'Arabic', 'Han', 'Hiragana', 'Katakana', 'Hangul', 'Thai', 'Devanagari'] as const;
function scriptsOf(text: string): string[] {
  return SCRIPTS.filter((script) => new RegExp(`\\p{Script=${script}}`, 'u').test(text));
}

/** Why a brand-like host imitates one of the brand domains, if it does. */
function lookalikeOf(host: string, brandDomains: readonly string[]): string | undefined {
  const registrable = registrableDomain(host);
  const label = fold(domainToUnicode(registrable).split('.')[0] ?? '');
  for (const brand of brandDomains) {
    const brandLabel = fold(registrableDomain(brand.toLowerCase()).split('.')[0] ?? '');
    if (!brandLabel || hostMatches(host, brand)) continue;
    if (label === brandLabel) return `imitates ${brand} (same name on another domain, or look-alike letters)`;
    if (brandLabel.length >= 4 && editDistance(label, brandLabel) <= (brandLabel.length >= 8 ? 2 : 1)) return `imitates ${brand} (a letter or two changed)`;
    if (brandLabel.length >= 4 && host.split('.').some((l) => fold(l).includes(brandLabel))) return `uses the name of ${brand} on a domain that is not yours`;
  }
  return undefined;
}

/** Checks every link in a text; returns only the suspicious ones, each with its reasons. */
export function checkLinks(text: string, policy: LinkPolicy): LinkFinding[] {
  const findings: LinkFinding[] = [];
  for (const raw of findLinks(text)) {
    const withScheme = /^https?:\/\//i.test(raw) ? raw : `http://${raw}`;
    // The host as written, before URL parsing turns Unicode into punycode.
    const writtenHost = withScheme.replace(/^https?:\/\//i, '').split(/[/?#:]/)[0]!.toLowerCase();
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      continue;
    }
    const host = url.hostname.toLowerCase().replace(/\.$/, '');
    const unicodeHost = domainToUnicode(host) || writtenHost;
    if ([...policy.allow, ...policy.brandDomains].some((d) => hostMatches(host, d))) continue;
    const reasons: string[] = [];
    if (policy.deny.some((d) => hostMatches(host, d))) reasons.push('on the deny list');
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[')) reasons.push('a raw IP address instead of a domain');
    if (host.split('.').some((l) => l.startsWith('xn--')) || /[^\x00-\x7f]/.test(writtenHost)) {
      // One name mixing alphabets is the homograph trick; a wholly foreign name is only unusual.
      const mixed = unicodeHost.split('.').map(scriptsOf).find((scripts) => scripts.length > 1);
      reasons.push(mixed ? `mixes ${mixed.join(' and ')} letters in its address` : `an international (punycode) address: ${unicodeHost}`);
    }
    if (SHORTENERS.has(registrableDomain(host)) || SHORTENERS.has(host)) reasons.push('a link shortener hides where it leads');
    const lookalike = lookalikeOf(host, policy.brandDomains);
    if (lookalike) reasons.push(lookalike);
    if (BAIT_WORDS.test(`${url.pathname}${url.search}`) && reasons.length > 0) reasons.push('asks for a login, payment or account details');
    else if (BAIT_WORDS.test(`${url.pathname}`) && policy.brandDomains.length > 0 && /login|sign-?in|password|verify/i.test(url.pathname)) {
      reasons.push('a sign-in or verification page outside your own domains');
    }
    if (reasons.length > 0) findings.push({ url: raw, host: unicodeHost, reasons });
  }
  return findings;
}

/** The visible warning put in front of a message in CRM timelines and tickets. */
export function linkWarning(findings: readonly LinkFinding[]): string {
  return `⚠️ Suspicious link${findings.length > 1 ? 's' : ''}: ${findings.map((f) => `${f.host} (${f.reasons.join('; ')})`).join(' | ')}. Do not open it or ask the customer to; check with security first.`;
}

/** Links in a text that are outside the allow list (and brand domains): what an outbound policy looks at. */
export function linksOutsideAllowList(text: string, policy: LinkPolicy): string[] {
  return findLinks(text).filter((raw) => {
    try {
      const host = new URL(/^https?:\/\//i.test(raw) ? raw : `http://${raw}`).hostname.toLowerCase();
      return ![...policy.allow, ...policy.brandDomains].some((d) => hostMatches(host, d));
    } catch {
      return true;
    }
  });
}
