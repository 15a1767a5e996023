import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Api, type Session } from "./api/client";
import { Audit } from "./pages/Audit";
import { Cache } from "./pages/Cache";
import { Images } from "./pages/Images";
import { Keys } from "./pages/Keys";
import { Login } from "./pages/Login";
import { Overview } from "./pages/Overview";
import { Playground } from "./pages/Playground";
import { Providers } from "./pages/Providers";
import { Teams } from "./pages/Teams";
import { Usage } from "./pages/Usage";

interface Page {
  path: string;
  title: string;
  adminOnly: boolean;
  view: ComponentType<{ session: Session }>;
}

/** Every page, in menu order; a user's key sees only the pages about their own data. */
export const PAGES: Page[] = [
  { path: "overview", title: "Overview", adminOnly: true, view: ({ session }) => <Overview api={session.api} /> },
  { path: "teams", title: "Teams & users", adminOnly: true, view: ({ session }) => <Teams api={session.api} /> },
  { path: "keys", title: "Keys", adminOnly: true, view: ({ session }) => <Keys api={session.api} /> },
  { path: "usage", title: "Usage", adminOnly: false, view: ({ session }) => <Usage api={session.api} self={session.role === "user"} /> },
  { path: "audit", title: "Audit", adminOnly: true, view: ({ session }) => <Audit api={session.api} /> },
  { path: "providers", title: "Providers", adminOnly: true, view: ({ session }) => <Providers api={session.api} /> },
  { path: "cache", title: "Cache", adminOnly: true, view: ({ session }) => <Cache api={session.api} /> },
  { path: "images", title: "Images", adminOnly: true, view: ({ session }) => <Images api={session.api} /> },
  { path: "playground", title: "Playground", adminOnly: false, view: ({ session }) => <Playground api={session.api} /> },
];

const STORE = "alfred.console.session";

function currentPath(): string {
  return location.hash.replace(/^#\/?/, "") || "overview";
}

/** The shell: log in, then a menu of pages routed by the URL hash. */
export function App() {
  const [session, setSession] = useState<Session | null>(() => {
    // Kept for the tab only (sessionStorage), so closing the tab logs out.
    const saved = sessionStorage.getItem(STORE);
    if (!saved) return null;
    const parsed = JSON.parse(saved) as Omit<Session, "api"> & { key: string };
    return { ...parsed, api: new Api(parsed.key) };
  });
  const [path, setPath] = useState(currentPath());
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => {
    const onHash = () => {
      setPath(currentPath());
      setMenuOpen(false);
    };
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  if (!session) {
    return (
      <Login
        onSession={(s) => {
          sessionStorage.setItem(STORE, JSON.stringify({ key: s.api.key, role: s.role, adminApi: s.adminApi, me: s.me }));
          setSession(s);
        }}
      />
    );
  }
  const pages = PAGES.filter((p) => session.role === "admin" || !p.adminOnly);
  const page = pages.find((p) => p.path === path) ?? pages[0];
  const View = page.view;
  return (
    <div class="shell">
      <header>
        <button type="button" class="menu-toggle" aria-label="Menu" onClick={() => setMenuOpen(!menuOpen)}>
          ☰
        </button>
        <span class="brand">Alfred</span>
        <span class="who">{session.role === "admin" ? "admin" : String(session.me?.email ?? "user")}</span>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            sessionStorage.removeItem(STORE);
            setSession(null);
          }}
        >
          Log out
        </button>
      </header>
      <nav class={menuOpen ? "open" : ""}>
        {pages.map((p) => (
          <a key={p.path} href={`#/${p.path}`} class={p === page ? "active" : ""}>
            {p.title}
          </a>
        ))}
      </nav>
      <main>
        {!session.adminApi && session.role === "admin" && (
          <p class="notice">This gateway serves no admin API yet: governance pages say so; Overview, Cache rates and Playground work.</p>
        )}
        <View session={session} />
      </main>
    </div>
  );
}
