"""The config library every settings model is built on: leaf types with this project's error wording
(`types`), the strict base model (`base`), the errors (`errors`), what several patterns share
(`common`), an app's config (`app`) and the models describing themselves (`reference`)."""
