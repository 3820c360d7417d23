// The web apps a person started (a port their process listens on: labstack_proxy.web_apps), as a section
// of JupyterLab's Running panel: where JupyterLab already lists what runs (kernels, terminals, and
// jupyter-server-proxy's own apps), and where a person stops things. Each entry opens the app through
// Jupyter's proxy; one that needs a setting says which, with the path filled in. And a loopback URL
// printed in JupyterLab's terminal opens through the proxy when clicked.
// Plain JavaScript, so that the image's build needs no TypeScript: @jupyterlab/builder bundles it.
import { URLExt } from '@jupyterlab/coreutils';
import { IRunningSessionManagers } from '@jupyterlab/running';
import { ServerConnection } from '@jupyterlab/services';
import { launchIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';

// How often the list is asked for while JupyterLab is open (the server looks at its ports each time).
const POLL_MILLISECONDS = 5000;

class WebApps {
  constructor() {
    this.apps = [];
    this.changed = new Signal(this);
    this.settings = ServerConnection.makeSettings();
  }

  url(path) {
    return URLExt.join(this.settings.baseUrl, 'labstack/web-apps', path);
  }

  async refresh() {
    let apps;
    try {
      const response = await ServerConnection.makeRequest(this.url(''), {}, this.settings);
      if (!response.ok) {
        return;
      }
      apps = (await response.json()).apps;
    } catch (error) {
      return; // the server is restarting, or the network is away: the next poll asks again
    }
    if (JSON.stringify(apps) !== JSON.stringify(this.apps)) {
      this.apps = apps;
      this.changed.emit(apps);
    }
  }

  async stop(app) {
    await ServerConnection.makeRequest(this.url(String(app.port)), { method: 'DELETE' }, this.settings);
    await this.refresh();
  }
}

// "8050 · python app.py": the port, then the command with its programs' folders left out.
function label(app) {
  const words = app.command.split(' ').map(word => (word.startsWith('/') ? word.split('/').pop() : word));
  return `${app.port} · ${words.join(' ')}`;
}

// What to start the app with; HOST is where this browser opens Jupyter, which only the browser knows.
function setting(app) {
  return app.flag.replace('HOST', window.location.host);
}

function title(app) {
  const where = app.address === '0.0.0.0' || app.address === '::' ? 'every address' : app.address;
  const lines = [`Opens ${app.url} through Jupyter (it listens on ${where}).`, app.command];
  if (app.flag) {
    lines.unshift(`Its page asks for its files elsewhere. Start it again with: ${setting(app)}`);
  }
  if (!app.stoppable) {
    lines.push('Served by a notebook: stop it from the notebook, or shut its kernel down.');
  }
  return lines.join('\n');
}

// A URL an app prints in JupyterLab's terminal (http://localhost:8501, 127.0.0.1, 0.0.0.0) names the
// container's own loopback, which the browser can't reach: clicked, it opens through the proxy instead.
// The terminal's link handler (xterm's web-links addon) opens a blank window, then sets its location:
// that window's location is watched, every other use of window.open is left as it is.
const LOOPBACK = new Set(['localhost', '127.0.0.1', '0.0.0.0', '[::1]', '[::]']);

function throughJupyter(url, basePath) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch (error) {
    return url;
  }
  if (!LOOPBACK.has(parsed.hostname) || !/^https?:$/.test(parsed.protocol)) {
    return url;
  }
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  const rest = parsed.pathname + parsed.search + parsed.hash;
  // an app started with its prefix (bokeh serve --prefix …/proxy/absolute/PORT) prints it already
  if (parsed.pathname.startsWith(URLExt.join(basePath, 'proxy/absolute', port))) {
    return window.location.origin + rest;
  }
  // (URLExt.join would fold the origin's "//")
  return window.location.origin + URLExt.join(basePath, 'proxy', port) + rest;
}

function openTerminalLinksThroughJupyter(baseUrl) {
  const basePath = new URL(baseUrl, window.location.href).pathname; // baseUrl is a whole URL
  const open = window.open.bind(window);
  window.open = (...args) => {
    const opened = open(...args);
    if (args.length > 0 || !opened) {
      return opened;
    }
    const location = new Proxy(opened.location, {
      get: (target, name) => (typeof target[name] === 'function' ? target[name].bind(target) : target[name]),
      set: (target, name, value) => {
        target[name] = name === 'href' ? throughJupyter(value, basePath) : value;
        return true;
      }
    });
    return new Proxy(opened, {
      get: (target, name) => {
        if (name === 'location') {
          return location;
        }
        const value = target[name];
        return typeof value === 'function' ? value.bind(target) : value;
      },
      set: (target, name, value) => {
        target[name] = value;
        return true;
      }
    });
  };
}

const plugin = {
  id: '@labstack/web-apps:running',
  description: 'The web apps you started, in the Running panel, each opening through Jupyter.',
  autoStart: true,
  requires: [IRunningSessionManagers],
  activate: (app, managers) => {
    const webApps = new WebApps();
    managers.add({
      name: 'Web apps',
      running: () =>
        webApps.apps.map(entry => ({
          className: 'labstack-WebApp',
          context: String(entry.port),
          open: () => window.open(entry.url, '_blank'),
          shutdown: entry.stoppable ? () => void webApps.stop(entry) : undefined,
          icon: () => launchIcon,
          label: () => label(entry) + (entry.flag ? ' (needs a setting)' : ''),
          labelTitle: () => title(entry)
        })),
      shutdownAll: () => {
        for (const entry of webApps.apps.filter(item => item.stoppable)) {
          void webApps.stop(entry);
        }
      },
      refreshRunning: () => void webApps.refresh(),
      runningChanged: webApps.changed,
      shutdownLabel: 'Stop',
      shutdownAllLabel: 'Stop All',
      shutdownAllConfirmationText: 'Stop every web app you started from a terminal?'
    });
    void webApps.refresh();
    setInterval(() => void webApps.refresh(), POLL_MILLISECONDS);
    openTerminalLinksThroughJupyter(webApps.settings.baseUrl);
  }
};

export default plugin;
