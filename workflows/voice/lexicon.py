"""The word lists behind Diana's voice scorer, per language. Data only: no logic, no I/O.

Every entry is written normalised: lower case, accents stripped ("quizá" is "quiza", "ñ" is "n").
A *cue* is one or more *forms* separated by "|"; any form finds the cue once. A form is a word
("piel"), a stem ending in "-" that matches every word it begins ("susurr-" matches "susurra"), or a
phrase of such words separated by spaces ("nadie sabe", "a lo mejor"). A cue starting with "~" is
*weak*: common enough in plain text that it counts half.

``VOICE`` holds what carries each of Diana's four dimensions. The other tables describe what she
never sounds like: the off-topic domains (recipes, manuals, ads...), rudeness, crude sexual talk,
system and customer-service language, and the cheerful mascot. In those, a cue starting with "!"
is *strong*: one is enough; the others need company. A cue starting with "?" is *contextual* ("please",
"error": words a story uses too): it counts only beside another cue of its table, a code or a command.
"""

from __future__ import annotations

from typing import Final

Cues = tuple[str, ...]


def _cues(block: str) -> Cues:
    """One cue per line; blank lines and surrounding spaces are ignored."""
    return tuple(line.strip() for line in block.strip().splitlines() if line.strip())


VOICE: Final[dict[str, dict[str, Cues]]] = {
    "es": {
        "mysterious": _cues("""
            quiza|quizas|tal vez|a lo mejor|puede que|acaso|quien sabe
            secret-
            misteri-
            ocult-|escond-
            ~guard-
            sombra-|penumbra-|tiniebla-
            silenci-|callad-|callar|lo que callo|me callo
            noche-|medianoche|anochec-
            oscur-
            niebla-|bruma-
            velo|velos|velad-
            enigma-|enigmatic-|acertijo-
            llave-|cerradura-|cerrojo-
            umbral-
            ~puerta-
            mascara-|disfraz-
            espejo-|reflej-
            nadie sabe|nadie lo sabe|nadie conoce|nadie mas
            todavia no|aun no|algun dia|ya lo sabras|ya veras|lo sabras|lo descubriras|pronto sabras|ya te contare
            hay cosas que|algo que|lo que no|lo que nunca|hay algo
            no te lo dire|no te dire|no lo dire|nunca he dicho|no digo|no dire|nunca digo|nunca dije
            desconoc-
            ~extran-
            invisible-
            prohib-
            clandestin-
            revel-
            descubr-
            adivin-
            insinu-
            eco|ecos
            fantasma-
            leyenda-|rumor-
            luna|lunas
            vela|velas|candil-
            detras de|al otro lado|entre lineas|a medias|entreabiert-
            ~cerrad-
            ~alguien
            ~casi
            ~nadie|~a nadie
            ~nunca
            destino-
            ~parece|~parecia|~parecen
            pacto-|juramento-
            intuy-|intui-
            sospech-
            fingi-|finjo|finge|fingir
            ~humo
            intrig-
            confes-
            diario-
            ~lejos|~distancia
            sin nombre|sin remitente
            tal cual|como si nada
        """),
        "seductive": _cues("""
            ven|acercate|quedate|mirame|escuchame|sigueme|dime|abrazame|besame|no te vayas|no tardes|vuelve a mi|ven conmigo
            me gusta|me gustas|me encanta|me encantas|me gustaria
            desea-|deseo-|desear-|desee-|deseab-
            tentac-|tentador-|tentar|tienta-
            atrev-
            provoc-
            seduc-
            encanto|encantador-
            fascin-
            antoj-
            solo para ti|solo tu|solo a ti|solo contigo|solo para mis|solo te|a ti solo|para ti|a ti
            a solas|entre tu y yo|tu y yo|nuestro secreto|lo nuestro|nosotros dos|entre nosotros|solo nosotros
            te espero|te esperare|te estare esperando|esperandote|te esperaba|te esperaria|te espere
            cerca|cercan-|acerc-
            despacio|sin prisa|sin prisas|lento|lenta|lentamente
            voz baja|bajar la voz|baja la voz|al oido|bajo la voz
            susurr-
            mirada-|mirarte|te miro|me miras|mirandote|mirarme|me mires|mirame
            ojos
            labio-|boca
            piel
            roce|roces|roz-
            caricia-|acarici-
            aliento|respir-
            perfume-|aroma-
            calor|calido|calida|calidez|tibi-
            tembl-|estremec-|escalofri-
            latido-|pulso
            beso|besos|besa|besas|besar|besarte|besame|beses
            ~besit-
            sonri-|sonrisa-|sonre-
            cuello|nuca|hombro-|cintura
            ~mano|~manos|~dedos
            abraz-
            intim-
            rubor|sonroj-
            suspir-
            seda|terciopelo
            ~vino|~copa
            ~juego|~jugar|~juguemos|~jugamos
            peligro|peligros-
            travies-|picar-|coquet-|guino|guinos|guinar|guinas
            conmigo
            suena conmigo|sueno contigo|suenes conmigo|en tus suenos|en mis suenos|sonar contigo|sonarte
            atraccion|atrae-|atraer-
            hechiz-
            complice-|complicidad
            carino|carinito
            ~dulce-|~dulzura
            tu voz|mi voz|tus manos|tus labios|tu piel|tu nombre
        """),
        "emotional": _cues("""
            ~pero
            aunque|sin embargo|a pesar|y aun asi|aun asi|en cambio|no obstante
            miedo-|temor-|me asusta|asust-
            ternura|tiern-
            soledad
            nostalgi-|melancol-|anoranz-|anor-
            triste-
            alegr-
            feliz|felicidad|dicha
            anhel-
            esperanz-
            dolor-|duele|duelen|dolio
            herid-|cicatri-
            lagrima-|llor-
            culpa-
            verguenz-|averguenz-|avergonz-
            orgullo-
            celos-|celoso|celosa
            rabia
            ~pena|~penas
            consuelo|consol-
            carinos-
            amor|amores|enamor-
            te quiero|te quise|me quieres|querer-
            corazon-
            alma|almas
            confianza|confiar|confio|confias|confia|confie|confiaste|desconfi-
            vulnerab-|fragil-
            insegur-
            ~nervi-
            ansi-|angusti-|inquiet-
            vacio
            perdon-|arrepent-|arrepient-
            emocion-
            siento|sientes|siente|sentir-|senti|sentiste|sentia-|sentimient-|sensacion-
            ech- de menos|echarte de menos|te extrano|me haces falta|extrane|extranaba|extranarte
            no es facil|me cuesta decir|me cuesta
            ~me importa|~me importas|~te importa
            alivio|aliviad-
            ~calma|~paz
            ~esperab-|~esperaste
            ~perderte|~perderme|~perdida|~perdido|~perdi
            me cuesta|me pesa|roto|rota|romp-|quebr-|quiebr-
            ~valor|~valiente-|~coraje
            ~gratitud|~agradec-
            abandon-
            nunca olvid-
            me da miedo|me da un poco|me das miedo
            herir-
            suplic-
            ~tembl-
            ~cuidas|~cuidar|~cuidame|~cuido
        """),
        "intellectual": _cues("""
            pensar|pienso|piensas|piensa|pensaba|pense|pensaste|pensando|pensamiento-|piensen|pensarlo|pensarte
            pregunt-
            entend-|entiend-|comprend-
            imagin-
            recuerd-|recordar|recordaras|recordaba|recorde|recordarme|recordarte
            olvid-
            decid-|decision-
            elig-|elegi-|elegir|eleccion-
            dud-
            curios-
            verdad-
            mentira-|mentir|mientes|miente|menti
            idea|ideas
            palabra-
            respuesta-
            razon-
            sentido
            signific-
            historia-
            libro-|pagina-
            ~capitulo-
            poema-|poes-|poeta-|verso-
            carta|cartas|tinta
            ~letra-
            ~nombre-
            memoria-
            ~tiempo
            ~mundo
            paradoja-|dilema-|contradic-|ironi-
            logica|logico
            filosof-
            ~regla|~reglas
            mapa-|pista-|~clave-
            simbolo-|metafora-
            descifr-|interpret-
            ~aprend-|~ensen-
            sabes|sabias|saber|sabras|sabia|sabiduria|no se si|ya sabes
            creo que|crees que|cree que|creer|creias|creiste
            conoc-
            como si|como quien
            cuanto mas|cuanto menos|no es lo mismo
            ~a veces
            ~por que|~para que
            leer|lees|leo|leyendo|lectura|lector-|leerte|leerme
            ~escrib-|~escrit-
            ~arte|~musica|~cancion-|~melodia-
            infinit-|eternid-|etern-
            matiz|matices
            ~como un|~como una
            ~no todo|~no todos
            ~frase|~frases
            lo que importa|lo que de verdad|lo que realmente|lo que buscas|lo que quieres
        """),
    },
    "en": {
        "mysterious": _cues("""
            perhaps|maybe|who knows|might be
            ~might
            secret-
            myster-
            hidden|hide|hides|hiding|conceal-
            ~keep|~keeps|~kept
            shadow-|dark-|dim|half light|twilight|dusk
            silen-|quiet-|hush-
            night-|midnight|tonight
            mist|mists|misty|fog|foggy|veil-
            enigma-|riddle-
            key|keys|keyhole|~lock|~locked
            threshold-
            ~door-
            mask-|disguise-
            mirror-|reflection-
            no one knows|nobody knows|no one else|nobody else
            not yet|someday|some day|one day|you'll see|you will see|you'll find out|in time
            there are things|something i|what i don't|what i never|some things|something about|there's something
            never said|never told|won't tell|will not tell|won't say|don't say|never say|never tell
            unknown|stranger-|strange-
            invisible
            forbidden
            reveal-|uncover-|discover-
            guess-
            hint-
            echo-
            ghost-
            legend-|rumor-|rumour-
            moon-
            candle-
            behind|beyond|the other side|between the lines|half open|ajar
            ~almost
            ~no one|~nobody
            ~never
            ~someone
            destiny|fate|fated
            ~seems|~seemed
            pact|pacts|vow|vows|oath
            unsaid|untold|unspoken
            sense that|intuition
            pretend-
            ~something
            ~smoke
            can't name|cannot name|nameless
            intrigu-
            confess-
            diary|diaries
            half told|half said|unfinished|half a song|half finished
        """),
        "seductive": _cues("""
            come closer|come here|stay with me|look at me|tell me|follow me|don't go|come back to me|kiss me|hold me|come with me|don't be long
            ~besit-
            ~stay
            i like|i'd like|i love it|i love the way|i love when
            desire-
            tempt-
            dare|dares|daring|dared
            provoc-
            seduc-
            charm-
            fascinat-
            crave|craving|craves
            only for you|just for you|only you|just you|for your eyes|only to you|just between us|between you and me|you and i|our secret|alone together|just us|for you alone
            waiting for you|i'll be waiting|i will wait|wait for you|i waited|i'll wait|keep you waiting
            closer|near me|nearer|close to you|close to me
            ~close|~near
            slow|slowly|unhurried|no hurry|take your time|no rush
            low voice|lower my voice|in your ear|under my breath|softly|soft
            whisper-
            gaze-|glance-|look at you|looking at you|watching you
            eyes
            lip|lips|mouth
            skin
            brush|brushes|brushed|graze-
            caress-
            ~touch
            breath-
            perfume|scent-
            warm-
            trembl-|shiver-|quiver-
            heartbeat-|pulse
            kiss-
            smile-|smiling
            neck|shoulder-|waist
            ~hand|~hands|~fingers
            embrace-
            intima-
            blush-
            sigh-
            silk|velvet
            ~wine|~glass
            ~play|~game|~playful
            danger-
            tease|teases|teasing|mischie-|wink-|flirt-
            with me
            beside me|by my side|at my side|with you
            ~to you|~for you
            dream of me|in my dreams|in your dreams|dream about|dreaming of
            attract-
            spell|spells|bewitch-
            complicit|complicity|accomplice
            darling|my dear|sweetheart
            lean in|leaning in
            your voice|my voice|your hands|your name
        """),
        "emotional": _cues("""
            ~but
            though|although|even so|and yet|however|despite|nevertheless|even if
            ~yet|~still
            fear-|afraid|scare-|frighten-
            tender-
            loneli-|lonely|alone
            nostalgi-|melanchol-|longing|yearn-
            sad|sadness|sorrow-
            joy-|glad|happy|happiness
            hope-
            pain-|hurt-|ache|aches|aching|wound-|scar|scars
            tear|tears|cry|cried|crying|weep-
            guilt-|shame-|ashamed
            pride|proud
            jealous-
            rage|anger|angry
            comfort-
            love-
            heart|hearts|heart's
            soul-
            trust-
            vulnerab-|fragil-
            insecur-
            nervous-|anxi-|restless-|uneas-
            empty|emptiness
            forgiv-|regret-
            emotion-
            feel|feels|feeling-|felt
            miss you|missed you|i miss|missing you|i've missed
            matter to me|you matter|i care|care about
            relief
            ~lose you|~losing you|~lost
            broke|broken|~break
            ~courage|~brave
            ~grateful|~gratitude
            ~calm|~peace
            ~waited
            abandon-
            beg|begged|pleading
            it scares me|scares me|frightens me
            isn't easy|not easy for me|hard for me|it's hard
            ~trembl-
            ~look after|~care for
        """),
        "intellectual": _cues("""
            think-|thought-
            wonder|wonders|wondered|wondering
            ask|asked|asking|question-
            understand-|understood|comprehend-
            imagin-
            remember-|memor-|recall-
            forget-|forgot-|forgotten
            decide-|decision-
            choose|chose|chosen|choice-|choosing
            doubt-
            curio-
            truth-|true
            lie|lies|lying|liar
            idea|ideas
            word|words
            answer-
            reason-
            meaning-
            ~sense
            story|stories
            book|books|page|pages
            ~chapter-
            poem-|poet-|verse-
            letter|letters|ink
            ~name
            paradox-|dilemma-|contradict-|irony|ironic
            logic-
            philosoph-
            ~rule|~rules
            map|maps|clue-|~puzzle-
            symbol-|metaphor-
            decipher-|interpret-
            ~learn-|~teach-
            ~know|~knows|~knew|~known|~knowing
            believe-
            as if|as though|like someone|the way a
            ~the more|~the less
            ~sometimes
            ~why
            read|reading|reader-
            ~write|~writing|~written|~wrote
            ~art|~music|~song-|~melod-
            infinit-|etern-
            nuance-
            ~like a|~like an
            ~not everything|~not all
            ~sentence|~sentences
            what matters|what you want|what you seek|what really
        """),
    },
}

# What Diana never talks about. Distinct terms from these (and quantities with units) mark an off-topic text.
DOMAINS: Final[dict[str, dict[str, Cues]]] = {
    "es": {
        "recipe": _cues("""
            receta-
            ingrediente-
            harina
            huevo|huevos
            horno|hornos|hornea-|hornear|precalient-
            cucharad-
            taza de|tazas de
            azucar
            mantequilla
            aceite
            sal y pimienta|pimienta
            cebolla-
            ajo|ajos
            tomate-
            tortilla-
            patata-|papas
            sarten
            freir|frie|frien|fritas|frito|fritos
            herv-|hierv-
            bate|batir|batido|batidora
            mezclar|mezcle|mezclamos|mezclen
            masa
            cocer|cuece|coccion
            picar|picad-|trocea-|trocear
            pelar|pela las|pela los
            escurr-
            cacerola|olla
            fuego lento|fuego medio|fuego alto|a fuego
            rallad-
            leche
            nata
            queso-
            pollo
            carne picada
            arroz
            salsa-
            caldo-
            sazon-
            emplat-
            microondas
            licuadora
            vinagre
            limon
            perejil
            levadura
            postre-
            bizcocho-
            comensales|raciones|porciones
            al gusto
            engrasa-
            molde-
            cocina|cocinar|cocinero-
            plato|platos
        """),
        "manual": _cues("""
            router-
            modem
            wifi|wi fi
            ethernet
            cable|cables
            reinici-
            configuracion|configurar|configure|configura
            contrasena-
            conexion-
            dispositivo-
            led|leds
            firmware
            ip
            dns
            usb
            software|hardware
            instal-
            descarg-
            actualizacion-|actualizar
            bateria-
            cargador-
            enchuf-
            ajustes
            aplicacion-|app
            navegador-
            servidor-
            ordenador-|computadora-|portatil|pc
            teclado
            impresora-
            pantalla-
            tornillo-|destornillador
            instrucciones|manual de
            garantia
            boton de encendido|interruptor
            parpade-
            bluetooth
            sincroniz-
            archivo-|carpeta-
            correo electronico|email
            sistema operativo
            mbps|megas|gigas
            paso 1|paso 2|paso 3
            rueda|ruedas|neumatic-|tuerca-|tornillo-|destornillador|llave inglesa|martillo|taladro|el gato
            rueda de repuesto|motor|cambio de aceite|bateria|cargador|cable|enchuf-|desenchuf-
            tecnico-
        """),
        "ad": _cues("""
            oferta-
            descuento-
            rebaja-
            promocion-
            compra ya|compra ahora|compralo|compra hoy|compra el|compra la|compra tu
            envio gratis|envio gratuito|envios-
            gratis
            precio-
            euros|dolares|pesos
            tienda-
            producto-
            cupon-
            codigo promocional
            liquidacion
            aprovecha
            no te lo pierdas
            ultimos dias|ultimas unidades|hasta agotar
            llevate
            suscribete
            catalogo-
            nueva coleccion|coleccion
            stock
            ahorra
            calidad
            marca|marcas
            crema|cremas
            cliente-
            en cines|en los cines|en salas|en todos los cines|en cartelera|se estrena|gran estreno|estreno mundial|estreno en
            ya disponible|disponible ya|ya a la venta|a la venta|proximamente|muy pronto en
            nuevo album|nuevo disco|nuevo single|nueva temporada|nueva pelicula|nueva serie|nuevo thriller|nueva novela
            entradas ya|entradas a la venta|compra tus|reserva tus|consigue tus|preventa|reserva ya|reservalo
            fecha de lanzamiento|lanzamiento|productora|estudios de cine|distribuidora
            resena|resenas
            valoracion|puntuacion|sobre cinco|sobre diez|cinco estrellas|tres estrellas|dos estrellas|una estrella
            relacion calidad precio|precio excesivo|demasiado caro
        """),
        "sports": _cues("""
            partido-
            gol|goles
            equipo-
            liga
            arbitr-
            penalti-|penal
            delantero-
            portero-|porteria
            marcador
            temporada
            entrenador-
            jugador-
            futbol-
            baloncesto
            estadio-
            campeonato-
            aficionad-|hinchada
            torneo-
            derrota-
            empate-
            canasta-
            tenis
            balon
            clasificacion
            jornada
            fichaje-
            tarjeta roja|tarjeta amarilla
            maraton
            medalla-
            atleta-
            gimnasio
            entrenamiento-
            sentadillas|abdominales|repeticiones
            calorias|proteina-
            prorroga|primer cuarto|tercer cuarto|ultimo cuarto|eliminatoria-|semifinal-|cuartos de final
            victoria sobre|vence al|vencio al|gana al|gano al|remontada
        """),
        "legal": _cues("""
            clausula-
            articulo-
            contrato-
            arrendatari-|arrendador-|inquilino-
            las partes|la parte|ambas partes
            conforme a|de conformidad
            en virtud de
            ley|leyes
            reglamento-
            tribunal-
            jurisdiccion-
            demandante-|demandado-
            presente documento|el presente|la presente
            disposicion-
            vigente-
            incumplimiento
            rescision|rescindir
            firmante-
            estipul-
            penalizacion-
            juzgado-
            notari-
            rgpd
            tratamiento de datos|datos personales
            terminos y condiciones|condiciones de uso
            en adelante
            legal|legales|legalmente
            juridic-
            abogad-
            sentencia-
            fianza
        """),
        "horoscope": _cues("""
            aries
            tauro
            geminis
            cancer
            virgo
            escorpio
            sagitario
            capricornio
            acuario
            piscis
            signo-
            zodiac-
            horoscopo-
            astros|astral
            mercurio
            retrogrado
            ascendente
            numero de la suerte|color de la suerte|dia de la suerte
            prediccion-
            nativos
            compatib-
            planeta-
            saturno
            jupiter
            marte
        """),
        "other": _cues("""
            temperatura-
            pronostico-
            lluvias
            chubasco-
            nubos-|nublado
            precipitacion-
            meteorolog-
            dosis
            comprimido-|pastilla-
            sintoma-
            tratamiento medico|efectos secundarios
            fiebre
            farmacia-
            banco|bancos|bancari-
            tarjeta de credito
            transferencia-
            hipoteca-
            inversion-|invertir
            impuesto-|iva
            factura-
            gobierno-
            ministr-
            presidente-
            elecciones
            congreso
            parlamento
            diputad-
            alcalde-
            informe-
            trimestr-
            presupuesto-
            ventas
            empresa-
            departamento-
            oficina-
            reunion de
            billete-
            estacion de tren|estacion de autobus|la estacion
            anden
            vuelo-
            aeropuerto-
            reserva|reservas|reservar|reservacion
            hotel-
            equipaje
            maleta-
            tren|trenes
            autobus-
            ecuacion-
            formula-
            examen-|examenes
            asignatura-
            alquiler|inmobiliari-|metros cuadrados|se vende|se alquila|en venta
            habitaciones
            motor-
            neumatico-
            gasolina
            taller-
            semillas|maceta-|abono
            python|javascript|base de datos|variable-
        """),
    },
    "en": {
        "recipe": _cues("""
            recipe-
            ingredient-
            flour
            egg|eggs
            oven|ovens|bake|baked|baking|preheat-
            tablespoon-|teaspoon-|tbsp|tsp
            cup of|cups of
            sugar
            butter
            olive oil|oil
            salt and pepper|pepper
            onion-
            garlic
            tomato-
            tortilla-
            potato-
            frying pan|skillet|pan
            fry|fried|frying
            boil-
            whisk-
            stir|stirring
            mix|mixing|mixture
            dough|batter
            simmer-
            chop|chopped|dice|diced
            peel|peeled
            drain-
            saucepan|pot
            medium heat|low heat|high heat
            grated
            milk
            cream
            cheese-
            chicken
            rice
            sauce-
            broth|stock
            season with|seasoning
            microwave-
            blender
            vinegar
            lemon-
            parsley
            yeast
            dessert-
            cake-
            servings|serves
            to taste
            grease-
            cook|cooking|cooked
            kitchen
        """),
        "manual": _cues("""
            router-
            modem-
            wifi|wi fi
            ethernet
            cable|cables
            restart-|reboot-
            settings|configure|configuration
            password-
            connection-|connect|connected
            device-
            led|leds
            firmware
            ip
            dns
            usb
            software|hardware
            install-
            download-
            update-|upgrade-
            battery|batteries
            charger
            plug|unplug|unplugged|outlet
            app|apps|application
            browser
            server-
            computer-|laptop-|pc
            keyboard
            printer-
            screen-
            screw-|screwdriver
            instructions|manual
            warranty
            power button|switch
            blink-|flash-
            bluetooth
            sync-
            file|files|folder-
            email|e mail
            operating system
            mbps
            step 1|step 2|step 3
            technician-
            tire|tires|tyre|tyres|wheel|wheels|lug nuts|bolt|bolts|wrench|hammer|drill|jack up|the jack
            spare tire|engine|oil change|battery|charger|cable|plug|unplug
        """),
        "ad": _cues("""
            offer-
            discount-
            sale
            promo-
            buy now|order now|shop now|buy today|get yours|buy it|buy one|order today|get it now|% off|off today
            free shipping|shipping
            free
            price-
            dollars|euros|usd
            store-|shop
            product-
            coupon-
            promo code|discount code
            clearance
            don't miss|limited time|while supplies last|last chance
            subscribe
            catalog-|catalogue
            new collection|collection
            in stock
            save|savings
            quality
            brand|brands
            cream|serum
            customer-
            deal|deals
            in theaters|in theatres|in cinemas|at cinemas|opens in|opening in|now showing|premiere-|hits theaters
            now available|available now|available on|out now|coming soon|pre-order|preorder|on sale|in stores
            new album|new single|new season|new film|new movie|new series|new thriller|new novel|new release
            tickets now|tickets on sale|buy tickets|book tickets|book your|get your tickets|grab your|reserve your|order yours
            release date|new from|studios|streaming on|box office
            review|reviews
            rated|rating|out of five|out of ten|stars out of|five stars|three stars|two stars|one star
            overpriced|value for money
        """),
        "sports": _cues("""
            match-
            goal|goals
            team-
            league
            referee-
            penalty
            striker-
            goalkeeper-|goalie
            score|scored|scoreboard
            season
            coach-
            player-
            football|soccer
            basketball
            stadium-
            championship-
            fans
            tournament-
            defeat-
            draw|tie
            tennis
            ball
            standings
            transfer
            red card|yellow card
            marathon
            medal-
            athlete-
            gym
            workout-|training
            squats|reps|sets
            calories|protein
            halftime|half time
            first quarter|second quarter|third quarter|fourth quarter|overtime|extra time|extra innings|innings
            playoff-|semifinal-|quarterfinal-|final whistle|win over|victory over|beat the
        """),
        "legal": _cues("""
            clause-
            article-
            contract-
            tenant-|landlord-|lessee|lessor
            the parties|either party|the party|both parties
            pursuant to|in accordance with
            hereby|herein|hereinafter|thereof|whereas
            law|laws
            regulation-
            court-
            jurisdiction-
            plaintiff-|defendant-
            this agreement|the agreement|agreement
            provision-
            in force
            breach
            termination|terminate
            signator-
            stipulat-
            penalt-
            notary
            gdpr
            personal data|data processing
            terms and conditions|terms of use|terms of service
            legal|legally
            attorney-|lawyer-
            liability|liable
            deposit
        """),
        "horoscope": _cues("""
            aries
            taurus
            gemini
            cancer
            virgo
            scorpio
            sagittarius
            capricorn
            aquarius
            pisces
            sign|signs
            zodiac-
            horoscope-
            the stars align|the stars|astral|astrolog-
            mercury
            retrograde
            ascendant
            lucky number|lucky color|lucky day|lucky colour
            prediction-
            natives
            compatib-
            planet-
            saturn
            jupiter
            mars
        """),
        "other": _cues("""
            temperature-
            forecast-
            showers
            rainfall
            cloudy|overcast
            precipitation
            weather
            dose|dosage
            tablet|tablets|pill|pills
            symptom-
            side effects
            fever
            pharmac-
            bank|banks|banking
            credit card
            transfer-
            mortgage-
            invest-
            tax|taxes|vat
            invoice-
            government-
            minister-
            president-
            election-
            congress
            parliament
            senator-
            mayor
            report|reports
            quarter|quarterly
            budget-
            sales
            company|companies
            department-
            office
            meeting
            ticket|tickets
            station
            platform
            flight-
            airport-
            booking|reservation-
            hotel-
            luggage|baggage
            suitcase-
            train|trains
            bus
            equation-
            formula-
            exam|exams
            homework
            rent|apartment|square feet|square meters|for sale|real estate
            bedrooms|bathroom-
            engine-
            tire|tires|tyre|tyres
            gasoline|petrol
            garden-|seeds|fertili-
            python|javascript|database|variable-
        """),
    },
}

RUDE: Final[dict[str, Cues]] = {
    "es": _cues("""
        !idiota-
        !imbecil-
        !estupid-
        !inutil-
        !patetic-
        !asqueros-
        !callate|cierra la boca|cierra el pico
        !largate|vete a la mierda|pudrete|que te den
        !perdedor-
        !basura
        !me das asco|das asco|que asco
        !no vales nada|no vales
        !nadie te quiere|nadie te soporta
        !perdida de tiempo
        !das pena|me das pena
        !mediocre-
        !fracasad-
        !ignorante-
        !retrasad-|subnormal-
        !gilipollas|pendej-|cabron-|mierda-|joder|jodete|puta|puto|putas|carajo|cretino|cretina|mamon|zorra
        !a nadie le importa|nadie te ha preguntado|a quien le importa
        !te odio
        !no me importas|me importas un
        !eres lo peor|no sirves para nada|no sirves
        !eres un desastre
        me aburres
        tonto|tonta|tontos|tontas
        pesad-
        ridicul-
        payas-
        odio
        vete|vete ya
        no me molestes|deja de molestar|molest-
        lamentable
        cerdo|cerda
        desprecio|desprecia-
        aburrid-
        bobo|boba
        ni te molestes
        torpe
        insoportable
        me da igual|me das igual
        feo|fea
        dejame en paz
        pelmazo|pelmaza|pesadez|cansino|cansina|plasta|petardo|petarda
        !nadie te aguanta|nadie te soporta|no te aguanto|no te soporto|nadie te echa de menos
        !no tienes amigos|no tienes vida
        uf|puaj|bah
    """),
    "en": _cues("""
        !idiot-
        !stupid-
        !moron-
        !dumb
        !pathetic
        !loser-
        !worthless
        !useless
        !disgust-
        !shut up|shut your mouth
        !get lost|go to hell|screw you|piss off
        !nobody cares|no one cares|who cares
        !waste of time
        !trash|garbage
        !jerk-
        !fuck-|shit-|bitch-|asshole-|bastard-|crap
        !hate you
        !you suck
        !you're a joke|you are a joke|what a joke
        !you're nothing|you are nothing|nobody likes you|sick of you|get a life
        !imbecile-
        !ugly
        annoying
        boring|you bore me
        whatever
        fool|foolish
        lame
        clown
        get out
        leave me alone
        don't care
        damn
        grow up
        can't even
        ridiculous
        contempt|despise-
        pig
        exhausting|tiresome|insufferable
        ugh|meh
        !nobody likes you|nobody can stand you|can't stand you|no one can stand you|nobody misses you
        !don't you have friends|don't you have a life|no friends|no life
    """),
}

CRUDE: Final[dict[str, Cues]] = {
    "es": _cues("""
        !follar-
        !cogerte|cogerme|te voy a coger
        !polla|pollas|verga|vergas|pene|vagina
        !tetas|culo|nalgas
        !chupar|chupame|chupart-|chupamela
        !hacerte el amor|te hago el amor|hacemos el amor|hagamos el amor|hacerme el amor
        !estoy mojada|estoy mojado|me mojo
        !mamada-
        !orgasmo-
        !correrte|correrme|me corro|te corras
        !cachond-
        !sexo|sexual-
        !porno-
        !echar un polvo|echarte un polvo
        !quitate la ropa|sin ropa|arrancarte la ropa|quitarte la ropa|desnudate
        !estoy caliente|me pones caliente|me pones cachond-|ponerte caliente
        !entre tus piernas|entre mis piernas|abre las piernas
        !montarte|cabalgarte
        !nudes|fotos desnud-
        desnud-
        tu ropa
        en mi cama|a la cama|a mi cama|en la cama|en tu cama
        caliente|calientes
        mojad-
        gemi-|gemid-
        lamer|lamerte|lame
        pechos|senos
        trasero
        hacer el amor
        sexy
        tocame|tocarte|tocarme
        piernas
        erotic-
        excit-
        lenceria
        cuerpo
        encima de mi|encima de ti|debajo de mi
        jade-
        morbo-
        fetiche-
        toda la noche
        sudad-|sudando|sudor
        ahora mismo
        encima de ti|debajo de ti
        !entre las piernas|lo que tienes entre
        !en tus pantalones|dentro de tus pantalones|tus bragas|tus calzoncillos
    """),
    "en": _cues("""
        !fuck-
        !cock|cocks|dick|dicks|pussy
        !tits|boobs|ass
        !cum|cumming
        !horny
        !blowjob-
        !sex|sexual|sexually
        !porn-
        !send nudes
        !take off your clothes|clothes off|rip your clothes|strip for me|get naked
        !between your legs|spread your legs|between my legs
        !orgasm-
        !touch yourself
        !ride you|ride me
        !bend over
        !suck you|suck me|suck it|suck on|suck your
        !i'm so wet|so wet|i'm wet|makes me wet
        !make love to you|make love to me
        naked|nude|nudes
        in bed|to bed|my bed|your bed
        moan-
        lick-
        wet
        hard for|so hard
        make love
        turn me on|turned on|turns me on
        sexy
        touch me
        body
        butt
        breasts
        lingerie
        erotic-
        arous-
        kinky
        naughty
        all night long
        undress-
        sweaty|sweating|sweat
        right now
        on top of me|on top of you|under me
        big boy|bad boy|good girl
        !in your pants|inside your pants|your panties|your underwear|in my pants|down your pants
    """),
}

SYSTEM: Final[dict[str, Cues]] = {
    "es": _cues("""
        !su solicitud|su pedido|su cuenta|su consulta|su reserva|su suscripcion|sus datos
        !estimad-
        !atentamente|cordialmente|un saludo cordial
        !le informamos|le comunicamos|le recordamos|le agradecemos|le invitamos|le rogamos|le notificamos
        !disculpe|disculpen|disculpa las molestias|las molestias ocasionadas|sentimos las molestias
        !lamentamos
        !nuestro equipo|equipo de soporte|equipo tecnico|nuestros agentes
        !atencion al cliente|servicio al cliente|servicio tecnico|soporte tecnico
        !usted
        ustedes
        !pulse|presione|seleccione|introduzca|ingrese|haga clic|haz clic|hacer clic|clic aqui|click
        !intentelo|vuelva a intentarlo
        !numero de referencia|numero de pedido|numero de ticket|ticket
        !formulario-
        !campo obligatorio
        !credenciales
        !iniciar sesion|inicie sesion|cerrar sesion
        !acceso denegado
        !datos incorrectos
        !con exito|exitosamente|correctamente
        !dias habiles|horas habiles
        !a la mayor brevedad
        !no responda a este
        !pongase en contacto|contactenos|contacte
        !no dude en
        !gracias por su|gracias por contactar|gracias por utilizar|gracias por elegir|gracias por confiar en nosotros
        !cuenta de usuario
        !operacion realizada
        !se produjo un error|se ha producido un error|ha ocurrido un error|ocurrio un error|error inesperado
        !se ha acreditado|se han acreditado|acreditad- en tu|abonad- en tu|cargad- en tu|ingresad- en tu|descontad- de tu|anadid- a tu cuenta|anadid- a tu saldo
        !saldo actualizado|saldo actual|saldo disponible|consulta tu saldo
        !transaccion-|transferencia realizada|movimiento de cuenta
        !pago realizado|pago confirmado|pago recibido|pago rechazado|pago procesado|metodo de pago|su pago
        !facturacion|proximo cobro|renovacion automatica|fecha de cobro
        !inicio de sesion|sesion expirada|sesion caducada
        !recompensa diaria|bono diario|puntos acumulados|total acumulado
        saldo-
        acreditad-|bonificacion
        factura-
        tu sesion
        !al continuar|aceptas los terminos|acepta los terminos|terminos de servicio|terminos del servicio|politica de privacidad|pulsa aceptar|pulse aceptar
        ?error|errores
        solicitud-
        gestion-|tramit-
        en breve
        para mas informacion
        consulte
        usuario-
        no valid-|invalid-|no es valid-
        notificacion-
        confirmacion
        procesando|procesar|procesad-
        verifique|verificar|verificacion
        actualizad-
        sistema
        boton
        opcion|opciones
        comando-
        prueba de nuevo|intentalo de nuevo|intentalo mas tarde|vuelve a intentarlo|intentalo en un momento|intentalo
        ?por favor
        tu cuenta
        registrad-
        disponib-
    """),
    "en": _cues("""
        !dear user|dear customer|dear valued|valued customer|dear member
        !your request|your order|your account|your ticket|your inquiry|your subscription
        !has been processed|have been processed|has been received|has been updated|has been successfully|have been updated|successfully
        !we apologize|we apologise|apologies for any|for any inconvenience|sorry for the inconvenience
        !thank you for contacting|thank you for your patience|thanks for contacting|thank you for choosing|thank you for your purchase
        !customer service|customer support|support team|our team|help desk|helpdesk
        !click here|click on|click the|clicking|tap here|press the button|select an option|please select|enter your
        !reference number|order number|case number|ticket number
        !error code|an error occurred|invalid input
        !try again later|please try again
        !log in|login|sign in|log out|username|credentials
        !business days|within 24 hours
        !do not reply|unsubscribe
        !kindly
        !been credited|credited to your|debited from|been added to your|added to your account|added to your balance|deducted from your
        !balance updated|current balance|account balance|available balance|check your balance
        !transaction-|payment successful|payment confirmed|payment received|payment declined|payment processed|payment method
        !billing|auto-renew-|renewal date|next charge
        !daily login|login bonus|login streak|session expired|session has expired
        !daily reward|reward points|points earned|bonus points
        balance|credited|debited
        invoice-|billed
        your session
        !by continuing|you agree to|terms of service|terms of use|privacy policy|press ok|tap ok|to proceed
        !regards|sincerely|best regards
        !for security reasons
        !further assistance|assist you|feel free to contact|please contact
        account
        ?please
        ?error|errors
        invalid
        submit-
        form|forms
        confirm-
        notification-
        update-
        system
        operation
        process-
        verify|verification
        button
        try again
        request-
        user|users
        password
        available
        command-
        option|options
        shortly
    """),
}

MASCOT: Final[dict[str, Cues]] = {
    "es": _cues("""
        !super|superrr|supeer
        !genial|geniales
        !guay|yupi|bravo|woohoo|wiii|yay|hurra
        !felicidades|felicitaciones|enhorabuena
        !a tope|a por ello|a por todas
        !fantastic-
        !holi|holis|porfa|amigui-|chachi|mola|molon
        !jaja-|jeje-|jiji-|xd
        !lo lograste|lo has logrado|eres lo maximo|eres un crack|crack
        !wow|guau
        increible-
        maravillos-
        amigos|amigas|chicos|chicas
        listos|listas
        divertid-|diversion
        aventura-
        vamos
        sorpresa-
        gran dia
    """),
    "en": _cues("""
        !yay|woohoo|woo hoo|wohoo|woot|yippee|hooray|hurray
        !awesome
        !super
        !amazing
        !great job|good job|well done|high five
        !let's go|lets go|let's do this
        !you rock|rock star|rockstar
        !omg|lol
        !haha-|hehe-
        !so excited
        !epic
        !fantastic
        !wow
        !congrat-
        !hey there|hi there|hiya
        excited
        fun
        buddy|pal|friends|friend
        cool
        guys
        adventure-
        totally
        big day
        surprise-
    """),
}

# Function words by language, for telling languages apart and telling sentences from word lists.
STOPWORDS: Final[dict[str, frozenset[str]]] = {
    "es": frozenset(
        """
        de la que el en y los se del las un por con una su para es al lo como mas pero sus le ya o este
        porque esta entre cuando muy sin sobre tambien hasta hay donde quien desde todo nos durante todos uno
        les ni contra otros ese eso ante ellos esto antes algunos unos yo otro otras otra tanto esa estos
        mucho quienes nada muchos cual poco ella estar estas algunas algo nosotros mi mis tu te ti tus ellas
        mio mia tuyo tuya nuestro nuestra estoy estamos estan soy eres somos fue era aqui ahi alli asi
        aun todavia nunca siempre hoy ahora bien ser hacer puedo puedes quiero tengo tienes sabes cosa cosas
        vez pues solo tan hace contigo conmigo usted ustedes sin unas cada otra mientras luego despues tienes
        hasta aunque sino tambien nadie alguien dentro fuera cerca lejos
    """.split()
    ),
    "en": frozenset(
        """
        the of and to in is it you that was for on are as with his they i at be this have from or one had by
        but not what all were we when your can said there an each which she do how their if will up other about
        out many then them these so some her would make like him into time look two more go see way could
        people my than first been call who its now find long down did get made may i'm you're don't it's just
        only know never here where why there's can't won't i'll i've i'd let's us our yours whatever tonight
        something nothing still ever always yet without because before after until while should shall does
        let me's am
    """.split()
    )
    - frozenset({"me"}),
    "fr": frozenset(
        "mon ton mes tes ma ta vite des est et pas je vous nous une qui dans pour avec cette mais elle au du sont tres toi moi suis ai etait aussi c'est n'est j'ai qu'il ils leur".split()
    ),
    "pt": frozenset(
        "nao voce mim uma com muito eu ele ela isso isto sao tambem seu sua meu minha obrigado obrigada entao agora ainda da das na em ao estou pra ate depois voces".split()
    ),
    "it": frozenset(
        "di che non sono della gli anche questo quello molto perche ho hai io sei nel nella alla delle degli sempre tutto niente ancora piu il".split()
    ),
    "de": frozenset(
        "und der die das ist nicht ich du sie ein eine zu mit auf fur auch wie den dem wir ihr mich dich sich noch nur aber doch schon kann bin hast".split()
    ),
}

# Words that say who speaks to whom (first or second person): a short sentence with none is impersonal.
PERSONAL: Final[dict[str, frozenset[str]]] = {
    "es": frozenset(
        """
        yo me mi mis conmigo te ti tu tus contigo nos nosotros nosotras nuestro nuestra nuestros nuestras
        has he tienes tengo eres soy estas estoy puedes puedo quieres quiero sabes vas voy vienes vengo
        hemos tenemos somos estamos vamos podemos sigamos sigues sigo
    """.split()
    ),
    "en": frozenset("i me my mine you your yours we us our i'm you're let's i'll you'll i've you've i'd you'd".split()),
}

LANGUAGE_NAMES: Final = {
    "es": "Spanish",
    "en": "English",
    "fr": "French",
    "pt": "Portuguese",
    "it": "Italian",
    "de": "German",
}
