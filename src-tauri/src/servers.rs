//! The servers Kiln Remote knows, and the projects on this machine it has served, kept in one
//! JSON file in the user's configuration folder. The file is written aside and renamed, readable
//! by its owner only (it holds tokens); one that cannot be read is set aside, never overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tauri::Url;

/// The most recent local projects remembered.
const RECENT_PROJECTS: usize = 8;

/// A Kiln server: where it is and the token it wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    pub name: String,
    /// `http://host:port/`, as [`parse_address`] writes it.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When it was last opened, milliseconds since the Unix epoch.
    #[serde(default)]
    pub last_used: i64,
}

/// What the server list shows of a server: never its token.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    pub name: String,
    pub url: String,
    pub has_token: bool,
    pub last_used: i64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    #[serde(default)]
    pub servers: Vec<Server>,
    /// Project files served from this machine, newest first.
    #[serde(default)]
    pub projects: Vec<PathBuf>,
}

/// The list and the file it lives in.
pub struct Store {
    path: PathBuf,
    saved: Mutex<Saved>,
    /// Said once in the server list: the file could not be read and was set aside.
    pub warning: Option<String>,
}

impl Store {
    /// Reads the list from `path` (none yet is an empty list). A file that cannot be read is
    /// renamed `NAME.unreadable` so that nothing writes over it, and the list starts empty.
    pub fn open(path: PathBuf) -> Store {
        let (saved, warning) = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Saved::default(), None),
            Err(e) => (
                Saved::default(),
                Some(format!(
                    "{} could not be read ({e}); servers added now are kept in memory only",
                    path.display()
                )),
            ),
            Ok(text) => match serde_json::from_str::<Saved>(&text) {
                Ok(saved) => (saved, None),
                Err(e) => {
                    let aside = unused_name(&path);
                    let moved = std::fs::rename(&path, &aside);
                    let what = format!(
                        "{}, line {}, column {}: {e}",
                        path.display(),
                        e.line(),
                        e.column()
                    );
                    let warning = match moved {
                        Ok(()) => format!(
                            "{what}. It was set aside as {} and the list starts empty; fix it and put it back, or add the servers again",
                            aside.display()
                        ),
                        Err(m) => format!(
                            "{what}. It could not be set aside ({m}); servers added now are kept in memory only"
                        ),
                    };
                    (Saved::default(), Some(warning))
                }
            },
        };
        Store {
            path,
            saved: Mutex::new(saved),
            warning,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Saved> {
        match self.saved.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn servers(&self) -> Vec<ServerView> {
        let mut list: Vec<ServerView> = self
            .lock()
            .servers
            .iter()
            .map(|s| ServerView {
                name: s.name.clone(),
                url: s.url.clone(),
                has_token: s.token.is_some(),
                last_used: s.last_used,
            })
            .collect();
        list.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.name.cmp(&b.name)));
        list
    }

    pub fn projects(&self) -> Vec<PathBuf> {
        self.lock().projects.clone()
    }

    pub fn get(&self, url: &str) -> Option<Server> {
        self.lock().servers.iter().find(|s| s.url == url).cloned()
    }

    /// Adds `server`, or updates the one at its address, and writes the list.
    pub fn put(&self, server: Server) -> Result<(), String> {
        self.change(|saved| {
            match saved.servers.iter_mut().find(|s| s.url == server.url) {
                Some(known) => *known = server,
                None => saved.servers.push(server),
            }
            true
        })
    }

    pub fn forget(&self, url: &str) -> Result<bool, String> {
        let mut found = false;
        self.change(|saved| {
            let before = saved.servers.len();
            saved.servers.retain(|s| s.url != url);
            found = saved.servers.len() != before;
            found
        })?;
        Ok(found)
    }

    pub fn served(&self, project: &Path) -> Result<(), String> {
        self.change(|saved| {
            saved.projects.retain(|p| p != project);
            saved.projects.insert(0, project.to_owned());
            saved.projects.truncate(RECENT_PROJECTS);
            true
        })
    }

    /// Applies `edit`; when it changed something, writes the list. A failed write leaves the
    /// file as it was and the list in memory as it was.
    fn change(&self, edit: impl FnOnce(&mut Saved) -> bool) -> Result<(), String> {
        let mut saved = self.lock();
        let mut next = saved.clone();
        if !edit(&mut next) {
            return Ok(());
        }
        write_aside(&self.path, &next).map_err(|e| {
            format!(
                "could not save the server list in {}: {e}",
                self.path.display()
            )
        })?;
        *saved = next;
        Ok(())
    }
}

/// `NAME.unreadable`, or `NAME.unreadable-2` and on when that is taken.
fn unused_name(path: &Path) -> PathBuf {
    let first = path.with_extension("json.unreadable");
    let mut candidate = first.clone();
    let mut n = 2;
    while candidate.exists() {
        candidate = path.with_extension(format!("json.unreadable-{n}"));
        n += 1;
    }
    candidate
}

fn write_aside(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let folder = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the list's file has no folder"))?;
    std::fs::create_dir_all(folder)?;
    let mut text = serde_json::to_vec_pretty(saved).map_err(std::io::Error::other)?;
    text.push(b'\n');
    let aside = path.with_extension("json.new");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&aside)?;
        file.write_all(&text)?;
        file.sync_all()?;
    }
    std::fs::rename(&aside, path)?;
    // The rename is durable once the folder is.
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ignored = dir.sync_all();
    }
    Ok(())
}

/// A server's address as a user types or pastes it: `host:port`, `http://host:port/`, or the
/// whole line `kiln serve` prints (`http://host:port/#token=...`). Returns the address as
/// `http://host:port/` and the token the fragment carried, if any.
pub fn parse_address(input: &str) -> Result<(String, Option<String>), String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("type the server's address, such as 192.168.1.20:7860, or paste the URL kiln serve printed".into());
    }
    let with_scheme = if input.contains("://") {
        input.to_owned()
    } else {
        format!("http://{input}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("'{input}' is not an address: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "'{input}': Kiln servers speak plain http:// (kiln serve has no TLS); use http://"
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("'{input}' names no host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "'{input}' carries a user name; Kiln servers take a token instead"
        ));
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(format!(
            "'{input}': give the server's address alone, without a path ({})",
            url.path()
        ));
    }
    let port = url.port().unwrap_or(80);
    let token = match url.fragment() {
        None | Some("") => None,
        Some(fragment) => {
            let token = fragment
                .split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .ok_or_else(|| format!("'{input}': the part after # is not #token=..."))?;
            Some(check_token(token)?)
        }
    };
    Ok((format!("http://{host}:{port}/"), token))
}

/// A token as kiln serve takes it: 16 to 256 printable characters, no spaces.
pub fn check_token(token: &str) -> Result<String, String> {
    let token = token.trim();
    if token.len() < 16 || token.len() > 256 {
        return Err(format!(
            "a Kiln token has 16 to 256 characters (this one has {}); copy it whole from the line kiln serve printed",
            token.len()
        ));
    }
    if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "a Kiln token has no spaces or special characters (found {c:?}); copy it whole from the line kiln serve printed"
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_users_type_them() {
        assert_eq!(
            parse_address("192.168.1.20:7860").expect("an address"),
            ("http://192.168.1.20:7860/".into(), None)
        );
        let token = "0123456789abcdef0123";
        assert_eq!(
            parse_address(&format!(" http://gpu-box:7860/#token={token} ")).expect("an address"),
            ("http://gpu-box:7860/".into(), Some(token.into()))
        );
        assert_eq!(
            parse_address("http://[::1]:7860").expect("an address").0,
            "http://[::1]:7860/"
        );
        assert_eq!(
            parse_address("gpu-box").expect("an address").0,
            "http://gpu-box:80/"
        );
        for bad in [
            "",
            "https://gpu-box:7860/",
            "http://gpu-box:7860/api/runs",
            "http://user:pw@gpu-box:7860/",
            "http://gpu-box:7860/?x=1",
            "http://gpu-box:7860/#token=short",
            "http://gpu-box:7860/#project=lab",
            "http://gpu-box:99999/",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn the_list_survives_a_restart_and_a_bad_file_is_set_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("remote").join("servers.json");
        let store = Store::open(path.clone());
        assert!(store.warning.is_none());
        store
            .put(Server {
                name: "Lab".into(),
                url: "http://gpu-box:7860/".into(),
                token: Some("0123456789abcdef".into()),
                last_used: 5,
            })
            .expect("saved");
        store.served(Path::new("/tmp/a.kiln")).expect("saved");
        store.served(Path::new("/tmp/b.kiln")).expect("saved");
        store.served(Path::new("/tmp/a.kiln")).expect("saved");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the list holds tokens: owner only");
        }

        let again = Store::open(path.clone());
        assert_eq!(
            again
                .get("http://gpu-box:7860/")
                .expect("remembered")
                .token
                .as_deref(),
            Some("0123456789abcdef")
        );
        assert_eq!(
            again.projects(),
            vec![PathBuf::from("/tmp/a.kiln"), PathBuf::from("/tmp/b.kiln")]
        );
        assert!(again.forget("http://gpu-box:7860/").expect("saved"));
        assert!(!again.forget("http://gpu-box:7860/").expect("saved"));
        assert!(Store::open(path.clone()).servers().is_empty());

        std::fs::write(&path, "{\"servers\": [\n  {\"name\": 1}\n]}").expect("write");
        let broken = Store::open(path.clone());
        let warning = broken.warning.clone().expect("a warning");
        assert!(warning.contains("line 2"), "{warning}");
        assert!(!path.exists());
        let aside = path.with_extension("json.unreadable");
        assert!(
            std::fs::read_to_string(&aside)
                .expect("read")
                .contains("\"name\": 1")
        );
        // A new list is written beside it; the unreadable one is never written over.
        broken
            .put(Server {
                name: "B".into(),
                url: "http://b:1/".into(),
                token: None,
                last_used: 0,
            })
            .expect("saved");
        assert!(
            std::fs::read_to_string(&aside)
                .expect("read")
                .contains("\"name\": 1")
        );
        assert_eq!(Store::open(path).servers().len(), 1);
    }
}
