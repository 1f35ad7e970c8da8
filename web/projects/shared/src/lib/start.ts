// Starts one of the apps: zoneless change detection, its routes, and page titles.
import { ChangeDetectionStrategy, Component, provideZonelessChangeDetection } from '@angular/core';
import { bootstrapApplication } from '@angular/platform-browser';
import { provideRouter, RouterOutlet, withComponentInputBinding, type Routes } from '@angular/router';

@Component({
  selector: 'astro-app',
  imports: [RouterOutlet],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: '<router-outlet />',
})
class Root {}

export function startApp(routes: Routes): void {
  bootstrapApplication(Root, {
    providers: [provideZonelessChangeDetection(), provideRouter(routes, withComponentInputBinding())],
  }).catch((error: unknown) => console.error(error));
}
