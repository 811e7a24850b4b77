// Phishing-link checks: suspicious links flagged with reasons a person can act on, ordinary links left alone.
import { describe, expect, it } from 'vitest';
import { checkLinks, findLinks, linkWarning, linksOutsideAllowList, registrableDomain, type LinkPolicy } from '../../../core/security/links.js';

const policy: LinkPolicy = { brandDomains: ['acme.com'], allow: ['partner-shop.example'], deny: ['evil.example'] };
const reasonsFor = (text: string, p: LinkPolicy = policy) => checkLinks(text, p).flatMap((f) => f.reasons);

describe('phishing links', () => {
  it('finds links as written, without trailing punctuation', () => {
    expect(findLinks('See https://acme.com/shop, or www.acme.com/help. Thanks!')).toEqual(['https://acme.com/shop', 'www.acme.com/help']);
  });

  it('leaves ordinary links alone', () => {
    const ordinary = [
      'Here is the store: https://www.google.com/maps?q=Covent+Garden',
      'The size chart https://acme.com/help/sizes and your account https://acme.com/account/login',
      'I bought it here https://www.amazon.co.uk/dp/B0C1234567?ref=abc',
      'Video: https://www.youtube.com/watch?v=dQw4w9WgXcQ',
      'Doc https://docs.google.com/document/d/1abc/edit and https://en.wikipedia.org/wiki/Jacket',
      'Partner https://shop.partner-shop.example/login',
      'no links at all, just a price: 19.99 and a time 10:30',
    ];
    for (const text of ordinary) expect(checkLinks(text, policy), text).toEqual([]);
  });

  it('flags hosts that hide what they are', () => {
    expect(reasonsFor('Pay here http://192.168.14.20/pay')).toContain('a raw IP address instead of a domain');
    expect(reasonsFor('Short https://bit.ly/3xYzAbc')).toContain('a link shortener hides where it leads');
    // A Cyrillic "а" in a Latin name: the classic homograph.
    expect(reasonsFor('Login at https://аcme.com/login').join()).toMatch(/mixes Latin and Cyrillic/);
    expect(reasonsFor('https://xn--80ak6aa92e.com/').join()).toMatch(/international \(punycode\) address/);
    expect(reasonsFor('see http://evil.example/x')).toContain('on the deny list');
  });

  it('flags look-alikes of the brand domains and credential bait on them', () => {
    expect(reasonsFor('https://acrne.com/verify').join()).toMatch(/imitates acme\.com.*asks for a login/);
    expect(reasonsFor('https://acme.co/account').join()).toMatch(/imitates acme\.com \(same name on another domain/);
    expect(reasonsFor('https://acme.com.secure-update.io/login').join()).toMatch(/uses the name of acme\.com on a domain that is not yours/);
    expect(reasonsFor('https://acme-support.net/reset-password').join()).toMatch(/uses the name of acme\.com/);
    expect(reasonsFor('https://some-shop.example/signin').join()).toMatch(/sign-in or verification page outside your own domains/);
  });

  it('words the warning for people', () => {
    expect(linkWarning(checkLinks('https://bit.ly/x', policy))).toBe('⚠️ Suspicious link: bit.ly (a link shortener hides where it leads). Do not open it or ask the customer to; check with security first.');
  });

  it("lists an agent's links outside the allow list", () => {
    expect(linksOutsideAllowList('See https://acme.com/a and https://partner-shop.example/b and https://other.example/c', policy)).toEqual(['https://other.example/c']);
  });

  it('reads registrable domains with two-level suffixes', () => {
    expect(registrableDomain('login.acme.co.uk')).toBe('acme.co.uk');
    expect(registrableDomain('a.b.acme.com')).toBe('acme.com');
  });
});
