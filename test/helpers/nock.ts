// Connector unit tests talk only to nock: any request nobody mocked fails the test.
import nock from 'nock';
import { afterEach, beforeEach } from 'vitest';

export function onlyMockedHttp(): void {
  beforeEach(() => nock.disableNetConnect());
  afterEach(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });
}
