/**
 * localStorage that never throws: Safari's private mode, a full quota or a
 * site that disabled storage must cost persistence, never a page error.
 */
export function get(k: string): string | null {
  try {
    return localStorage.getItem(k);
  } catch {
    return null;
  }
}

export function set(k: string, v: string): boolean {
  try {
    localStorage.setItem(k, v);
    return true;
  } catch {
    return false;
  }
}

export function del(k: string): void {
  try {
    localStorage.removeItem(k);
  } catch {
    /* unavailable */
  }
}

export function keys(prefix: string): string[] {
  const out: string[] = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k?.startsWith(prefix)) out.push(k);
    }
  } catch {
    /* unavailable */
  }
  return out;
}
