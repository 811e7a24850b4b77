// What every admin resource router is given: a way to declare a route under the role checks of
// the admin API (see ADMIN_ROUTES in server/admin-api.ts), and who is calling.
import type { Request, Response } from 'express';
import type { Role } from '../../core/admin/accounts.js';

export type Caller = { readonly actor: string; readonly role: Role; readonly user?: string; readonly session?: string; readonly tokenId?: string };
export type Locals = { caller?: Caller };
export type RouteHandler = (req: Request, res: Response<unknown, Locals>, caller: Caller) => Promise<void>;
/** Declares a route listed in ADMIN_ROUTES: the caller's role is checked before the handler runs. */
export type DefineRoute = (method: 'get' | 'post' | 'delete', path: string, handler: RouteHandler) => void;

/** A route's `:id` as a positive whole number, or undefined (the caller answers 400). */
export function numericId(req: Request, name = 'id'): number | undefined {
  const id = Number(req.params[name]);
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
}
