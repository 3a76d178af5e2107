// One message catalogue per language (i18n/en.json, it.json, ru.json — same keys).
// The language is chosen per user: remembered per username in localStorage.
export const LANGUAGES = ["en", "it", "ru"];
let messages = {};
let fallback = {};
let language = "en";

async function load(lang) {
  const response = await fetch(`i18n/${lang}.json`);
  if (!response.ok) throw new Error(`no catalogue for ${lang}`);
  return response.json();
}

export async function useLanguage(lang) {
  if (!LANGUAGES.includes(lang)) lang = "en";
  if (!Object.keys(fallback).length) fallback = await load("en");
  messages = lang === "en" ? fallback : await load(lang);
  language = lang;
  document.documentElement.lang = lang;
  translatePage(document);
  return lang;
}

export const currentLanguage = () => language;

// t("grid.summary", {n: 3}) → text with {n} replaced
export function t(key, vars = {}) {
  const text = messages[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (all, name) => (name in vars ? String(vars[name]) : all));
}

// a code the server sent, translated when the catalogue has it (grid notes, refusal codes,
// audit actions…): otherwise shown as sent
export function translated(prefix, code, vars = {}) {
  if (code === null || code === undefined || code === "") return "";
  const key = `${prefix}.${String(code).replace(/[^A-Za-z0-9]+/g, "_").toLowerCase()}`;
  return key in messages || key in fallback ? t(key, vars) : String(code);
}

export function translatePage(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}

export function rememberedLanguage(username) {
  return localStorage.getItem(`lockstep.language.${username}`);
}

export function rememberLanguage(username, lang) {
  localStorage.setItem(`lockstep.language.${username}`, lang);
  localStorage.setItem("lockstep.language", lang);
}

export function initialLanguage() {
  const last = localStorage.getItem("lockstep.language");
  if (last) return last;
  const browser = (navigator.language || "en").slice(0, 2);
  return LANGUAGES.includes(browser) ? browser : "en";
}
