// In-page navigation: main.js installs the router's; until then a plain page load.
let current = (href) => {
  location.href = href;
};

export function setNavigate(fn) {
  current = fn;
}

export function navigate(href) {
  current(href);
}
