// Per-address limits count IPv4 addresses one by one and IPv6 addresses by their /64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressGroup, GroupCounts } from '../../../shared/channel/address-group.ts';

test('IPv4 and IPv4-mapped IPv6 addresses are their own group', () => {
  assert.equal(addressGroup('10.1.2.3'), '10.1.2.3');
  assert.equal(addressGroup('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(addressGroup('::FFFF:127.0.0.2'), '127.0.0.2');
});

test('IPv6 addresses in one /64 share a group, whatever their spelling; another /64 does not', () => {
  const g = addressGroup('2001:db8:1:2::1');
  assert.equal(g, '2001:db8:1:2::/64');
  assert.equal(addressGroup('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), g);
  assert.equal(addressGroup('2001:db8:1:2:aaaa::7%eth0'), g);
  assert.equal(addressGroup('2001:db8:1:2::10.0.0.1'), g);
  assert.notEqual(addressGroup('2001:db8:1:3::1'), g);
  assert.equal(addressGroup('::1'), '0:0:0:0::/64');
  assert.equal(addressGroup('fe80::1'), 'fe80:0:0:0::/64');
});

test('anything that is not an IP address (in-memory transports) is its own group', () => {
  assert.equal(addressGroup('memory:site-a'), 'memory:site-a');
  assert.equal(addressGroup('unknown'), 'unknown');
});

test('GroupCounts counts per group and in all, and forgets a group at zero', () => {
  const c = new GroupCounts();
  c.add('a'); c.add('a'); c.add('b');
  assert.deepEqual([c.of('a'), c.of('b'), c.total], [2, 1, 3]);
  c.remove('a'); c.remove('a');
  assert.deepEqual([c.of('a'), c.total], [0, 1]);
});
